#include "eventstore/kafka_config.hpp"

#include <array>

namespace shopstream::eventstore::kafka {

result<conf, std::string> make_conf(const std::map<std::string, std::string>& settings) {
    conf c(rd_kafka_conf_new());
    std::array<char, 512> error{};
    for (const auto& [key, value] : settings) {
        if (rd_kafka_conf_set(c.get(), key.c_str(), value.c_str(), error.data(), error.size()) !=
            RD_KAFKA_CONF_OK) {
            return fail("kafka setting " + key + "=" + value + ": " + error.data());
        }
    }
    return c;
}

result<handle, std::string> make_client(rd_kafka_type_t type, conf settings) {
    std::array<char, 512> error{};
    rd_kafka_t* rk = rd_kafka_new(type, settings.get(), error.data(), error.size());
    if (rk == nullptr) return fail(std::string("cannot create kafka client: ") + error.data());
    settings.release();  // owned by rk now
    return handle(rk);
}

}  // namespace shopstream::eventstore::kafka
