#include "adapters/cli/data_dir.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

namespace shopstream::adapters {
namespace {

std::string errno_text() { return std::strerror(errno); }

result<std::string, std::string> random_hex(std::size_t bytes) {
    std::vector<unsigned char> raw(bytes);
    if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) return fail(std::string("no random bytes from OpenSSL"));
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : raw) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0xF]);
    }
    return out;
}

result<void, std::string> write_atomically(const std::filesystem::path& path, const std::string& line) {
    const auto temporary = std::filesystem::path(path.string() + ".new");
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return fail("cannot create " + temporary.string() + ": " + errno_text());
    const bool ok = ::fchmod(fd, 0600) == 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                    ::fsync(fd) == 0;
    const std::string why = errno_text();
    ::close(fd);
    if (!ok || ::rename(temporary.c_str(), path.c_str()) != 0) {
        ::unlink(temporary.c_str());
        return fail("cannot write " + path.string() + ": " + (ok ? errno_text() : why));
    }
    const int dir = ::open(path.parent_path().empty() ? "." : path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        (void)::fsync(dir);  // the rename itself survives a crash
        ::close(dir);
    }
    return {};
}

}  // namespace

std::filesystem::path default_data_dir() {
    std::error_code ec;
    auto here = std::filesystem::current_path(ec);
    return (ec ? std::filesystem::path(".") : here) / "data";
}

result<secret, std::string> read_or_create_secret(const std::filesystem::path& path, std::size_t bytes) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0) {
        if (errno != ENOENT) return fail("cannot read " + path.string() + ": " + errno_text());
        auto value = random_hex(bytes);
        if (!value) return fail(std::move(value.error()));
        if (auto written = write_atomically(path, *value + "\n"); !written) return fail(std::move(written.error()));
        return secret{std::move(*value), true};
    }
    if (!S_ISREG(info.st_mode)) return fail(path.string() + " is not a regular file");
    if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        return fail(path.string() + " may be read by others (mode " + std::to_string((info.st_mode >> 6) & 7) +
                    std::to_string((info.st_mode >> 3) & 7) + std::to_string(info.st_mode & 7) + "): chmod 600 " +
                    path.string());
    }
    std::ifstream in(path);
    std::string value;
    if (!in) return fail("cannot read " + path.string());
    std::getline(in, value);  // an empty file leaves `value` empty: refused below
    if (value.empty()) return fail(path.string() + " is empty: delete it to have a new secret written");
    return secret{std::move(value), false};
}

}  // namespace shopstream::adapters
