#include "eventstore/topics.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "eventstore/context.hpp"
#include "eventstore/kafka_config.hpp"

namespace shopstream::eventstore {
namespace {

constexpr std::string_view identity_prefix = "shopstream-log-identity:";

std::string random_identity() {
    std::random_device rd;
    std::array<std::uint32_t, 4> words{};
    for (auto& w : words) w = rd();
    std::string out;
    constexpr char hex[] = "0123456789abcdef";
    for (std::uint32_t w : words) {
        for (int shift = 28; shift >= 0; shift -= 4) out.push_back(hex[(w >> shift) & 0xFU]);
    }
    return out;
}

// Our settings for one client, then --kafka-config's (which never name a key of ours
// that correctness depends on: kafka_config.hpp refuses those).
std::map<std::string, std::string> with_client_settings(std::map<std::string, std::string> ours,
                                                        const std::map<std::string, std::string>& client_settings) {
    for (const auto& [k, v] : client_settings) ours[k] = v;
    return ours;
}

struct queue_deleter {
    void operator()(rd_kafka_queue_t* q) const noexcept { rd_kafka_queue_destroy(q); }
};

// Reads the first record of the identity topic: its value, or "" when the topic is empty.
result<std::string, eventstore::error> read_first_identity(const std::string& bootstrap, int timeout_ms,
                                                          const std::map<std::string, std::string>& client_settings) {
    auto conf = kafka::make_conf(with_client_settings({{"bootstrap.servers", bootstrap},
                                  {"group.id", "shopstream-identity-reader"},
                                  {"enable.auto.commit", "false"},
                                  {"enable.partition.eof", "true"},
                                  {"auto.offset.reset", "earliest"},
                                  {"socket.nagle.disable", "true"},
                                  {"fetch.wait.max.ms", "5"},
                                  {"log_level", "3"}}, client_settings));
    if (!conf) return fail(std::move(conf.error()));
    auto rk = kafka::make_client(RD_KAFKA_CONSUMER, std::move(*conf));
    if (!rk) return fail(std::move(rk.error()));
    std::int64_t low = 0;
    std::int64_t high = 0;
    const std::string topic(identity_topic);
    rd_kafka_resp_err_t err =
        kafka::watermarks_once_led(rk->get(), topic, 0, low, high, std::chrono::milliseconds(timeout_ms));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return fail(eventstore::error{errc::unreachable, "cannot read the log identity topic " + topic + ": " + rd_kafka_err2str(err)});
    }
    if (high == 0) return std::string();
    if (low > 0) {
        return fail(eventstore::error{errc::records_lost, "the log identity record is gone from " + topic + " (log start offset " +
                    std::to_string(low) + "): its retention must be unlimited; this log can no "
                    "longer prove its identity"});
    }
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic.c_str(), 0)->offset = 0;
    err = rd_kafka_assign(rk->get(), parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return fail(eventstore::error{errc::client_failed, std::string("assign: ") + rd_kafka_err2str(err)});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::string value;
    std::string problem;
    while (std::chrono::steady_clock::now() < deadline) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(rk->get(), 100);
        if (m == nullptr) continue;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->offset == 0) {
            value.assign(static_cast<const char*>(m->payload), m->len);
            rd_kafka_message_destroy(m);
            break;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            problem = rd_kafka_message_errstr(m);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk->get());
    if (value.empty()) {
        return fail(eventstore::error{errc::unreachable, "cannot read the log identity record" + (problem.empty() ? std::string() : ": " + problem)});
    }
    if (value.rfind(identity_prefix, 0) != 0 || value.size() == identity_prefix.size()) {
        return fail(eventstore::error{errc::foreign_log, "the first record of " + topic + " is not a shopstream log identity"});
    }
    return value.substr(identity_prefix.size());
}

// What the probe's client reports through its error callback (served by rd_kafka_poll
// on the probing thread: no lock needed).
struct probe_state {
    bool all_brokers_down = false;
    std::chrono::steady_clock::time_point down_since;
    std::string last_error;  // the last connection failure, as librdkafka words it
    std::string authentication_error;  // a broker refused the SASL credentials: final
};

void probe_on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* state = static_cast<probe_state*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        if (!state->all_brokers_down) state->down_since = std::chrono::steady_clock::now();
        state->all_brokers_down = true;
    } else if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION && reason != nullptr) {
        if (state->authentication_error.empty()) state->authentication_error = reason;
    } else if (reason != nullptr) {
        state->last_error = reason;
    }
}

// The probe's own lines are expected noise while it decides: debug level only.
void probe_on_log(const rd_kafka_t* rk, int, const char* facility, const char* message) {
    kafka::log_to_spdlog(rk, 7, facility, message);
}

// "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after
// 0ms in state CONNECT)" -> "connection refused"; other wordings lose only the broker
// name and the "(after ...)" tail.
std::string connection_problem(std::string text) {
    if (const auto after = text.rfind(" (after "); after != std::string::npos) text.erase(after);
    if (const auto failed = text.find("failed: "); failed != std::string::npos) {
        text.erase(0, failed + 8);
    } else if (const auto colon = text.find(": "); colon != std::string::npos) {
        text.erase(0, colon + 2);
    }
    if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z' && (text.size() < 2 || text[1] < 'A' || text[1] > 'Z')) {
        text[0] = static_cast<char>(text[0] - 'A' + 'a');
    }
    return text;
}

// "sasl_plaintext://127.0.0.1:9093/bootstrap: SASL authentication error: Authentication
// failed during authentication due to invalid credentials with SASL mechanism
// SCRAM-SHA-512 (after 3ms in state AUTH_REQ)" -> "authentication failed at
// 127.0.0.1:9093: invalid credentials with SASL mechanism SCRAM-SHA-512". Retrying cannot
// help, so the probe ends at the first one.
std::string authentication_problem(const std::string& text) {
    std::string broker;
    if (const auto scheme = text.find("://"); scheme != std::string::npos) {
        const auto end = text.find_first_of("/:", text.find(':', scheme + 3) + 1);
        broker = text.substr(scheme + 3, end == std::string::npos ? std::string::npos : end - scheme - 3);
    }
    std::string why = connection_problem(text);
    if (const auto due = why.find("due to "); due != std::string::npos) why.erase(0, due + 7);
    // librdkafka before 2.6.1 (confluentinc/librdkafka#4895) sends a SCRAM proof that Kafka
    // 4.x refuses whatever the password (tests/README.md): say so, since the line cannot tell.
    if (why.find("SCRAM") != std::string::npos && rd_kafka_version() < 0x020601ff) {
        why += std::string(" (if the password is right: librdkafka ") + rd_kafka_version_str() +
               "'s SCRAM is refused by Kafka 4.x brokers, fixed in librdkafka 2.6.1; Kafka 3.9 accepts it)";
    }
    return "authentication failed" + (broker.empty() ? std::string() : " at " + broker) + ": " + why;
}

// The brokers in the cluster's metadata (at least one, or an error).
result<int, eventstore::error> broker_count(rd_kafka_t* rk, std::chrono::milliseconds timeout) {
    const rd_kafka_metadata_t* md = nullptr;
    const auto err = rd_kafka_metadata(rk, 0, nullptr, &md, static_cast<int>(timeout.count()));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return fail(eventstore::error{errc::unreachable, std::string("metadata: ") + rd_kafka_err2str(err)});
    }
    const int brokers = md->broker_cnt;
    rd_kafka_metadata_destroy(md);
    if (brokers < 1) return fail(eventstore::error{errc::unreachable, std::string("the cluster metadata lists no brokers")});
    return brokers;
}

std::optional<long long> as_number(const std::string& text) {
    long long value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

std::string alter_config(const std::string& topic, const std::string& setting) {
    return "kafka-configs.sh --bootstrap-server HOST:PORT --alter --entity-type topics --entity-name " + topic +
           " --add-config " + setting;
}

}  // namespace

int replication_for(int brokers) noexcept { return std::clamp(brokers, 1, 3); }

int min_insync_for(int replication) noexcept { return std::clamp(replication, 1, 2); }

std::map<std::string, std::string> guaranteed_topic_settings(int brokers) {
    return {{"min.insync.replicas", std::to_string(min_insync_for(replication_for(brokers)))},
            {"cleanup.policy", "delete"},
            {"retention.ms", "-1"},
            {"retention.bytes", "-1"},
            {"unclean.leader.election.enable", "false"}};
}

std::vector<topic_verdict> judge_topic_guarantees(const std::vector<topic_description>& topics, int brokers) {
    std::vector<topic_verdict> out;
    for (const auto& t : topics) {
        const auto setting = [&t](const std::string& name, const std::string& kafka_default) {
            const auto found = t.config.find(name);
            return found == t.config.end() ? kafka_default : found->second;
        };
        const auto refuse = [&](std::string name, std::string value, const std::string& why, const std::string& fix) {
            std::string line = "topic " + t.topic + " has " + name + "=" + value + ": " + why + "; fix: " + fix;
            out.push_back({topic_verdict::kind::refuse, t.topic, std::move(name), std::move(value), std::move(line)});
        };

        const std::string cleanup = setting("cleanup.policy", "delete");
        if (cleanup.find("compact") != std::string::npos) {
            refuse("cleanup.policy", cleanup,
                   "compaction deletes every commit of an aggregate but its last, and the log is the source of truth",
                   alter_config(t.topic, "cleanup.policy=delete"));
        }
        for (const char* name : {"retention.ms", "retention.bytes"}) {
            const std::string value = setting(name, name == std::string_view("retention.ms") ? "604800000" : "-1");
            if (as_number(value) != -1) {
                refuse(name, value, "finite retention deletes old commits, and the log is the source of truth",
                       alter_config(t.topic, std::string(name) + "=-1"));
            }
        }
        const std::string unclean = setting("unclean.leader.election.enable", "false");
        if (unclean != "false") {
            refuse("unclean.leader.election.enable", unclean,
                   "an out-of-sync replica may become leader and drop acknowledged commits",
                   alter_config(t.topic, "unclean.leader.election.enable=false"));
        }
        if (brokers > 1) {
            if (t.replication < 2) {
                refuse("replication.factor", std::to_string(t.replication),
                       "on " + std::to_string(brokers) + " brokers a single broker holds every copy and acknowledges alone",
                       "reassign its partitions to " + std::to_string(replication_for(brokers)) +
                           " replicas (kafka-reassign-partitions.sh)");
            }
            const std::string min_insync = setting("min.insync.replicas", "1");
            const auto n = as_number(min_insync);
            if (t.replication >= 2 && (!n || *n < 2)) {
                refuse("min.insync.replicas", min_insync,
                       "with acks=all one in-sync broker acknowledges alone, and its loss loses the commit",
                       alter_config(t.topic, "min.insync.replicas=" + std::to_string(min_insync_for(t.replication))));
            }
        } else {
            out.push_back({topic_verdict::kind::note, t.topic, "replication.factor", std::to_string(t.replication),
                           "topic " + t.topic + " is on a single-node cluster: it keeps one copy of every commit"});
        }
    }
    return out;
}

result<topic_guarantee_report, eventstore::error> check_topic_guarantees(
    const std::string& bootstrap_servers, std::chrono::milliseconds timeout,
    const std::map<std::string, std::string>& client_settings) {
    auto conf = kafka::make_conf(
        with_client_settings({{"bootstrap.servers", bootstrap_servers}, {"log_level", "3"}}, client_settings));
    if (!conf) return fail(std::move(conf.error()));
    auto rk = kafka::make_client(RD_KAFKA_PRODUCER, std::move(*conf));
    if (!rk) return fail(std::move(rk.error()));

    std::vector<std::string> ours;
    for (context c : all_contexts) ours.emplace_back(topic_of(c));
    ours.emplace_back(identity_topic);

    topic_guarantee_report report;
    std::vector<topic_description> described;
    std::vector<std::int32_t> broker_ids;
    {
        const rd_kafka_metadata_t* md = nullptr;
        const auto err = rd_kafka_metadata(rk->get(), 1, nullptr, &md, static_cast<int>(timeout.count()));
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return fail(eventstore::error{errc::unreachable, std::string("metadata: ") + rd_kafka_err2str(err)});
        }
        report.brokers = md->broker_cnt;
        for (int i = 0; i < md->broker_cnt; ++i) broker_ids.push_back(md->brokers[i].id);
        for (int i = 0; i < md->topic_cnt; ++i) {
            const auto& t = md->topics[i];
            if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR || std::find(ours.begin(), ours.end(), t.topic) == ours.end()) continue;
            int replication = t.partition_cnt > 0 ? t.partitions[0].replica_cnt : 0;
            for (int p = 1; p < t.partition_cnt; ++p) replication = std::min(replication, t.partitions[p].replica_cnt);
            described.push_back({t.topic, replication, {}});
        }
        rd_kafka_metadata_destroy(md);
    }
    if (described.empty()) {
        report.checked = true;
        return report;
    }
    // The Admin API sends DescribeConfigs by way of the controller the metadata names.
    // librdkafka's mock names controller 0, none of its brokers (1..n), and implements no
    // DescribeConfigs: say so at once rather than waiting `timeout` for that controller.
    const std::int32_t controller = rd_kafka_controllerid(rk->get(), 0);
    if (std::find(broker_ids.begin(), broker_ids.end(), controller) == broker_ids.end()) {
        report.unchecked_reason = "the cluster's metadata names controller " + std::to_string(controller) +
                                  ", none of its brokers (as librdkafka's mock cluster does, which implements no "
                                  "DescribeConfigs)";
        return report;
    }

    std::vector<rd_kafka_ConfigResource_t*> resources;
    for (const auto& d : described) resources.push_back(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, d.topic.c_str()));
    std::unique_ptr<rd_kafka_queue_t, queue_deleter> queue(rd_kafka_queue_new(rk->get()));
    rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk->get(), RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    std::array<char, 256> option_error{};
    rd_kafka_AdminOptions_set_request_timeout(options, static_cast<int>(timeout.count()), option_error.data(),
                                              option_error.size());
    rd_kafka_DescribeConfigs(rk->get(), resources.data(), resources.size(), options, queue.get());
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_ConfigResource_destroy_array(resources.data(), resources.size());  // copied by the request
    rd_kafka_event_t* ev = rd_kafka_queue_poll(queue.get(), static_cast<int>(timeout.count()) + 1000);
    if (ev == nullptr) return fail(eventstore::error{errc::timed_out, std::string("DescribeConfigs timed out")});
    std::unique_ptr<rd_kafka_event_t, decltype(&rd_kafka_event_destroy)> event(ev, &rd_kafka_event_destroy);
    if (const auto err = rd_kafka_event_error(ev); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
            report.unchecked_reason = std::string("the cluster implements no DescribeConfigs (") +
                                      rd_kafka_event_error_string(ev) + ")";
            return report;
        }
        return fail(eventstore::error{errc::unreachable, std::string("cannot read the topics' configuration (DescribeConfigs): ") +
                                                             rd_kafka_event_error_string(ev)});
    }
    const auto* result = rd_kafka_event_DescribeConfigs_result(ev);
    std::size_t count = 0;
    const rd_kafka_ConfigResource_t** described_resources =
        result == nullptr ? nullptr : rd_kafka_DescribeConfigs_result_resources(result, &count);
    for (std::size_t i = 0; i < count; ++i) {
        const rd_kafka_ConfigResource_t* r = described_resources[i];
        const std::string name = rd_kafka_ConfigResource_name(r);
        if (rd_kafka_ConfigResource_error(r) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return fail(eventstore::error{errc::misconfigured, "cannot read the configuration of topic " + name + ": " +
                                                                   rd_kafka_ConfigResource_error_string(r)});
        }
        const auto d = std::find_if(described.begin(), described.end(), [&](const auto& x) { return x.topic == name; });
        if (d == described.end()) continue;
        std::size_t entries = 0;
        const rd_kafka_ConfigEntry_t** configs = rd_kafka_ConfigResource_configs(r, &entries);
        for (std::size_t e = 0; e < entries; ++e) {
            const char* value = rd_kafka_ConfigEntry_value(configs[e]);
            d->config[rd_kafka_ConfigEntry_name(configs[e])] = value == nullptr ? "" : value;
        }
    }
    report.checked = true;
    report.verdicts = judge_topic_guarantees(described, report.brokers);
    return report;
}

result<void, eventstore::error> probe_brokers(const std::string& bootstrap_servers, std::chrono::milliseconds timeout,
                                              const std::map<std::string, std::string>& client_settings) {
    using clock = std::chrono::steady_clock;
    // Every bootstrap broker was seen down; one more round of addresses (a name may
    // resolve to ::1 before 127.0.0.1) before believing it.
    constexpr auto down_grace = std::chrono::milliseconds(1000);
    auto conf = kafka::make_conf(with_client_settings({{"bootstrap.servers", bootstrap_servers},
                                                       {"client.id", "shopstream-probe"},
                                                       {"reconnect.backoff.ms", "50"},
                                                       {"reconnect.backoff.max.ms", "200"},
                                                       {"log_level", "3"}},
                                                      client_settings));
    if (!conf) return fail(std::move(conf.error()));
    probe_state state;
    rd_kafka_conf_set_opaque(conf->get(), &state);
    rd_kafka_conf_set_error_cb(conf->get(), &probe_on_error);
    rd_kafka_conf_set_log_cb(conf->get(), &probe_on_log);
    auto rk = kafka::make_client(RD_KAFKA_PRODUCER, std::move(*conf));
    if (!rk) return fail(std::move(rk.error()));

    const auto deadline = clock::now() + timeout;
    auto attempt = std::chrono::milliseconds(250);
    std::string last_metadata_error;
    for (;;) {
        const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        if (remaining.count() > 0) {
            // Brokers only: no topic is named (naming one may auto-create it).
            const rd_kafka_metadata_t* md = nullptr;
            const auto err = rd_kafka_metadata(rk->get(), 0, nullptr, &md,
                                               static_cast<int>(std::min(attempt, remaining).count()));
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                const int brokers = md->broker_cnt;
                rd_kafka_metadata_destroy(md);
                if (brokers > 0) return {};
                last_metadata_error = "the cluster metadata lists no brokers";
            } else {
                last_metadata_error = rd_kafka_err2str(err);
            }
            attempt = std::min(attempt * 2, std::chrono::milliseconds(2000));
        }
        // Serves probe_on_error; the wait keeps a metadata call that fails at once from spinning.
        rd_kafka_poll(rk->get(), clock::now() < deadline ? 50 : 0);
        if (!state.authentication_error.empty()) {
            return fail(eventstore::error{errc::authentication_failed, authentication_problem(state.authentication_error)});
        }
        if (state.all_brokers_down && clock::now() - state.down_since >= down_grace) {
            return fail(eventstore::error{errc::unreachable, "all brokers are down" +
                        (state.last_error.empty() ? std::string() : " (" + connection_problem(state.last_error) + ")")});
        }
        if (clock::now() >= deadline) {
            const auto ms = static_cast<long long>(timeout.count());
            return fail(eventstore::error{errc::unreachable, "no answer to a metadata request within " +
                        (ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms") + " (" +
                        (state.last_error.empty() ? last_metadata_error : connection_problem(state.last_error)) + ")"});
        }
    }
}

result<void, eventstore::error> ensure_topics(const std::string& bootstrap_servers, int partitions,
                                        std::chrono::milliseconds timeout,
                                        const std::map<std::string, std::string>& client_settings) {
    auto conf = kafka::make_conf(
        with_client_settings({{"bootstrap.servers", bootstrap_servers}, {"log_level", "3"}}, client_settings));
    if (!conf) return fail(std::move(conf.error()));
    auto rk = kafka::make_client(RD_KAFKA_PRODUCER, std::move(*conf));
    if (!rk) return fail(std::move(rk.error()));
    const int timeout_ms = static_cast<int>(timeout.count());

    struct wanted {
        std::string name;
        int partitions;
        bool keyed = true;  // an existing topic must have `partitions` (keys map by the count)
    };
    std::vector<wanted> topics;
    for (context c : all_contexts) topics.push_back({std::string(topic_of(c)), partitions});
    topics.push_back({std::string(identity_topic), 1});
    // Nothing is looked up by key in a DLQ: an existing one keeps its partition count.
    for (context c : all_contexts) topics.push_back({std::string(dlq_topic_of(c)), partitions, false});

    auto existing_all = kafka::partition_counts(rk->get(), timeout);
    if (!existing_all) return fail(std::move(existing_all.error()));
    auto brokers = broker_count(rk->get(), timeout);
    if (!brokers) return fail(std::move(brokers.error()));
    const auto settings = guaranteed_topic_settings(*brokers);
    std::vector<rd_kafka_NewTopic_t*> create;
    std::array<char, 512> reason{};
    for (const auto& t : topics) {
        const auto found = existing_all->find(t.name);
        const int existing = found == existing_all->end() ? 0 : found->second;
        if (existing > 0) {
            if (t.keyed && existing != t.partitions) {
                for (auto* n : create) rd_kafka_NewTopic_destroy(n);
                return fail(eventstore::error{errc::misconfigured, "topic " + t.name + " exists with " + std::to_string(existing) +
                            " partitions, but " + std::to_string(t.partitions) +
                            " are configured: keys would map to other partitions; use --partitions " +
                            std::to_string(existing)});
            }
            continue;
        }
        rd_kafka_NewTopic_t* n = rd_kafka_NewTopic_new(t.name.c_str(), t.partitions, replication_for(*brokers),
                                                       reason.data(), reason.size());
        if (n == nullptr) {
            for (auto* c : create) rd_kafka_NewTopic_destroy(c);
            return fail(eventstore::error{errc::client_failed, "topic " + t.name + ": " + reason.data()});
        }
        for (const auto& [key, value] : settings) rd_kafka_NewTopic_set_config(n, key.c_str(), value.c_str());
        create.push_back(n);
    }
    if (create.empty()) return {};

    std::unique_ptr<rd_kafka_queue_t, queue_deleter> queue(rd_kafka_queue_new(rk->get()));
    rd_kafka_CreateTopics(rk->get(), create.data(), create.size(), nullptr, queue.get());
    for (auto* n : create) rd_kafka_NewTopic_destroy(n);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(queue.get(), timeout_ms + 1000);
    if (ev == nullptr) return fail(eventstore::error{errc::timed_out, std::string("CreateTopics timed out")});
    std::string problem;
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        problem = std::string("CreateTopics: ") + rd_kafka_event_error_string(ev);
    } else if (const auto* res = rd_kafka_event_CreateTopics_result(ev)) {
        size_t n = 0;
        const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
        for (size_t i = 0; i < n; ++i) {
            const auto err = rd_kafka_topic_result_error(results[i]);
            if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                problem = std::string("cannot create topic ") + rd_kafka_topic_result_name(results[i]) + ": " +
                          rd_kafka_topic_result_error_string(results[i]);
            }
        }
    }
    rd_kafka_event_destroy(ev);
    if (!problem.empty()) return fail(eventstore::error{errc::misconfigured, std::move(problem)});
    return {};
}

result<void, eventstore::error> create_topics(embedded_cluster& cluster, int partitions) {
    const int replication = std::min(3, cluster.broker_count());
    for (context c : all_contexts) {
        if (auto r = cluster.create_topic(topic_of(c), partitions, replication); !r) {
            return fail(std::move(r.error()));
        }
    }
    if (auto r = cluster.create_topic(identity_topic, 1, replication); !r) {
        return fail(std::move(r.error()));
    }
    for (context c : all_contexts) {
        if (auto r = cluster.create_topic(dlq_topic_of(c), partitions, replication); !r) {
            return fail(std::move(r.error()));
        }
    }
    return {};
}

result<std::string, eventstore::error> ensure_log_identity(const std::string& bootstrap_servers,
                                                     std::chrono::milliseconds timeout,
                                                     const std::map<std::string, std::string>& client_settings) {
    const int timeout_ms = static_cast<int>(timeout.count());
    auto first = read_first_identity(bootstrap_servers, timeout_ms, client_settings);
    if (!first) return first;
    if (!first->empty()) return first;

    auto conf = kafka::make_conf(with_client_settings({{"bootstrap.servers", bootstrap_servers},
                                                       {"enable.idempotence", "true"},
                                                       {"acks", "all"},
                                                       {"socket.nagle.disable", "true"},
                                                       {"log_level", "3"}},
                                                      client_settings));
    if (!conf) return fail(std::move(conf.error()));
    auto rk = kafka::make_client(RD_KAFKA_PRODUCER, std::move(*conf));
    if (!rk) return fail(std::move(rk.error()));
    const std::string value = std::string(identity_prefix) + random_identity();
    const std::string topic(identity_topic);
    std::array<rd_kafka_vu_t, 4> vus{};
    vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[0].u.cstr = topic.c_str();
    vus[1].vtype = RD_KAFKA_VTYPE_PARTITION;
    vus[1].u.i32 = 0;
    vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[2].u.mem = {const_cast<char*>(value.data()), value.size()};
    vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[3].u.i = RD_KAFKA_MSG_F_COPY;
    rd_kafka_error_t* refused = rd_kafka_produceva(rk->get(), vus.data(), vus.size());
    auto err = refused == nullptr ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_error_code(refused);
    if (refused != nullptr) rd_kafka_error_destroy(refused);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = rd_kafka_flush(rk->get(), timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return fail(eventstore::error{errc::unreachable, std::string("cannot write the log identity: ") + rd_kafka_err2str(err)});
    }
    // Whoever wrote first wins: read the first record again.
    return read_first_identity(bootstrap_servers, timeout_ms, client_settings);
}

}  // namespace shopstream::eventstore
