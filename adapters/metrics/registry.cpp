#include "adapters/metrics/registry.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <type_traits>

namespace shopstream::adapters::metrics {
namespace {

bool valid_name(std::string_view name, bool colons) {
    if (name.empty()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colons && c == ':');
        if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

// `\` and newline escaped, and `"` too in a label value (HELP text keeps its quotes).
std::string escape(std::string_view v, bool quotes) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '"' && quotes) {
            out += "\\\"";
        } else {
            out += c;
        }
    }
    return out;
}

std::string_view type_name(metric_type t) {
    switch (t) {
        case metric_type::counter: return "counter";
        case metric_type::gauge: return "gauge";
        case metric_type::histogram: return "histogram";
    }
    return "untyped";
}

// `{a="x",b="y"}` (with `le` last, for a bucket); nothing when there are no labels.
void write_labels(std::string& out, const std::vector<std::string>& names, std::span<const std::string_view> values,
                  std::string_view le = {}) {
    if (names.empty() && le.empty()) return;
    out += '{';
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i > 0) out += ',';
        out += names[i];
        out += "=\"";
        out += escape_label_value(values[i]);
        out += '"';
    }
    if (!le.empty()) {
        if (!names.empty()) out += ',';
        out += "le=\"";
        out += le;
        out += '"';
    }
    out += '}';
}

void write_sample(std::string& out, std::string_view name, std::string_view suffix,
                  const std::vector<std::string>& names, std::span<const std::string_view> values, double value,
                  std::string_view le = {}) {
    out += name;
    out += suffix;
    write_labels(out, names, values, le);
    out += ' ';
    out += format_value(value);
    out += '\n';
}

std::uint64_t hash_of(std::span<const std::string_view> values) {
    std::uint64_t h = 1469598103934665603ULL;
    for (auto v : values) {
        for (unsigned char c : v) {
            h ^= c;
            h *= 1099511628211ULL;
        }
        h ^= 0xFFU;  // no UTF-8 byte: ("ab","c") and ("a","bc") differ
        h *= 1099511628211ULL;
    }
    return h;
}

class collected_family final : public detail::family_base {
public:
    collected_family(std::string name, std::string help, metric_type type, std::vector<std::string> label_names,
                     collect_fn collect)
        : family_base(std::move(name), std::move(help), type, std::move(label_names)), collect_(std::move(collect)) {}

    void expose(std::string& out) const override {
        write_header(out);
        struct writer final : sample_sink {
            const collected_family& family;
            std::string& text;
            writer(const collected_family& f, std::string& o) : family(f), text(o) {}
            void add(std::span<const std::string_view> values, double value) override {
                family.check_arity(values.size());
                write_sample(text, family.name_, "", family.label_names_, values, value);
            }
        } sink{*this, out};
        collect_(sink);
    }

private:
    collect_fn collect_;
};

}  // namespace

std::string escape_label_value(std::string_view v) { return escape(v, true); }

std::string format_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    char buf[64];
    std::to_chars_result r{};
    if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {  // 2^53: every integer exact
        r = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(v));
    } else if (const double a = std::fabs(v); a >= 1e-4 && a < 1e15) {
        r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);  // 0.0005, not 5e-04
    } else {
        r = std::to_chars(buf, buf + sizeof buf, v);
    }
    return std::string(buf, r.ptr);
}

std::vector<double> latency_buckets() {
    return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// ---- histogram -------------------------------------------------------------------------

histogram::histogram(const settings& s)
    : bounds_(s.bounds), counts_(std::make_unique<std::atomic<std::uint64_t>[]>(s.bounds.size() + 1)) {}

void histogram::observe(double v) noexcept {
    if (std::isnan(v)) return;
    // Bucket i counts observations in (bounds[i-1], bounds[i]]; the last one is +Inf.
    const auto i = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
}

histogram::snapshot histogram::read() const {
    snapshot s;
    s.cumulative.reserve(bounds_.size() + 1);
    std::uint64_t running = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        running += counts_[i].load(std::memory_order_relaxed);
        s.cumulative.push_back(running);
    }
    s.sum = sum_.load(std::memory_order_relaxed);
    return s;
}

// ---- families --------------------------------------------------------------------------

namespace detail {

family_base::family_base(std::string name, std::string help, metric_type type, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), type_(type), label_names_(std::move(label_names)) {
    if (!valid_name(name_, true)) throw std::invalid_argument("not a metric name: '" + name_ + "'");
    for (std::size_t i = 0; i < label_names_.size(); ++i) {
        const auto& l = label_names_[i];
        if (!valid_name(l, false) || l.starts_with("__")) {
            throw std::invalid_argument("not a label name: '" + l + "' (" + name_ + ")");
        }
        if (type_ == metric_type::histogram && l == "le") {
            throw std::invalid_argument("a histogram cannot have a label 'le' (" + name_ + ")");
        }
        if (std::find(label_names_.begin(), label_names_.begin() + static_cast<std::ptrdiff_t>(i), l) !=
            label_names_.begin() + static_cast<std::ptrdiff_t>(i)) {
            throw std::invalid_argument("label '" + l + "' given twice (" + name_ + ")");
        }
    }
}

void family_base::write_header(std::string& out) const {
    out += "# HELP ";
    out += name_;
    out += ' ';
    out += escape(help_, false);
    out += "\n# TYPE ";
    out += name_;
    out += ' ';
    out += type_name(type_);
    out += '\n';
}

void family_base::check_arity(std::size_t values) const {
    if (values != label_names_.size()) {
        throw std::invalid_argument(name_ + " takes " + std::to_string(label_names_.size()) + " label values, not " +
                                    std::to_string(values));
    }
}

}  // namespace detail

template <class Series>
struct family<Series>::entry {
    entry(std::span<const std::string_view> values, std::uint64_t h, const typename Series::settings& s)
        : hash(h), labels(values.begin(), values.end()), series(s) {}

    [[nodiscard]] bool is(std::uint64_t h, std::span<const std::string_view> values) const {
        return hash == h && std::equal(labels.begin(), labels.end(), values.begin(), values.end());
    }
    [[nodiscard]] std::vector<std::string_view> views() const { return {labels.begin(), labels.end()}; }

    std::uint64_t hash;
    std::vector<std::string> labels;
    Series series;
};

template <class Series>
family<Series>::family(std::string name, std::string help, metric_type type, std::vector<std::string> label_names,
                       typename Series::settings settings, std::size_t max_series)
    : family_base(std::move(name), std::move(help), type, std::move(label_names)),
      settings_(std::move(settings)),
      max_series_(max_series),
      // At least twice the series: a probe always ends at an empty slot.
      mask_(std::bit_ceil(std::max<std::size_t>(2, 2 * max_series)) - 1),
      slots_(std::make_unique<std::atomic<entry*>[]>(mask_ + 1)) {
    if constexpr (std::is_same_v<Series, histogram>) {
        const auto& b = settings_.bounds;
        if (std::adjacent_find(b.begin(), b.end(), std::greater_equal<>()) != b.end() ||
            std::any_of(b.begin(), b.end(), [](double x) { return !std::isfinite(x); })) {
            throw std::invalid_argument("histogram bounds must be finite and increasing (" + name_ + ")");
        }
    }
    const std::vector<std::string_view> none(label_names_.size());
    detached_ = std::make_unique<entry>(none, 0, settings_);
}

template <class Series>
family<Series>::~family() = default;

template <class Series>
Series& family<Series>::with(std::span<const std::string_view> values) {
    check_arity(values.size());
    const std::uint64_t h = hash_of(values);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
        entry* e = slots_[i].load(std::memory_order_acquire);
        if (e == nullptr) break;
        if (e->is(h, values)) return e->series;
    }
    std::lock_guard lock(mu_);
    std::size_t i = h & mask_;
    for (;; i = (i + 1) & mask_) {
        entry* e = slots_[i].load(std::memory_order_relaxed);
        if (e == nullptr) break;
        if (e->is(h, values)) return e->series;  // made while this thread waited for the lock
    }
    if (owned_.size() >= max_series_) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return detached_->series;
    }
    owned_.push_back(std::make_unique<entry>(values, h, settings_));
    slots_[i].store(owned_.back().get(), std::memory_order_release);
    return owned_.back()->series;
}

template <class Series>
void family<Series>::expose(std::string& out) const {
    write_header(out);
    std::vector<const entry*> list;
    {
        std::lock_guard lock(mu_);
        list.reserve(owned_.size());
        for (const auto& e : owned_) list.push_back(e.get());
    }
    std::sort(list.begin(), list.end(), [](const entry* a, const entry* b) { return a->labels < b->labels; });
    for (const entry* e : list) {
        const auto values = e->views();
        if constexpr (std::is_same_v<Series, histogram>) {
            const auto snap = e->series.read();
            const auto bounds = e->series.bounds();
            for (std::size_t b = 0; b < bounds.size(); ++b) {
                write_sample(out, name_, "_bucket", label_names_, values, static_cast<double>(snap.cumulative[b]),
                             format_value(bounds[b]));
            }
            const auto count = static_cast<double>(snap.cumulative.back());
            write_sample(out, name_, "_bucket", label_names_, values, count, "+Inf");
            write_sample(out, name_, "_sum", label_names_, values, snap.sum);
            write_sample(out, name_, "_count", label_names_, values, count);
        } else {
            write_sample(out, name_, "", label_names_, values, e->series.value());
        }
    }
}

template class family<counter>;
template class family<gauge>;
template class family<histogram>;

// ---- registry --------------------------------------------------------------------------

registry::~registry() = default;

template <class Family>
Family& registry::adopt(std::unique_ptr<Family> f) {
    std::lock_guard lock(mu_);
    for (const auto& existing : families_) {
        if (existing->name() == f->name()) throw std::invalid_argument("metric registered twice: " + f->name());
    }
    Family& out = *f;
    families_.push_back(std::move(f));
    return out;
}

counter_family& registry::add_counter(std::string name, std::string help, std::vector<std::string> label_names,
                                      std::size_t max_series) {
    return adopt(std::make_unique<counter_family>(std::move(name), std::move(help), metric_type::counter,
                                                  std::move(label_names), counter::settings{}, max_series));
}

gauge_family& registry::add_gauge(std::string name, std::string help, std::vector<std::string> label_names,
                                  std::size_t max_series) {
    return adopt(std::make_unique<gauge_family>(std::move(name), std::move(help), metric_type::gauge,
                                                std::move(label_names), gauge::settings{}, max_series));
}

histogram_family& registry::add_histogram(std::string name, std::string help, std::vector<std::string> label_names,
                                          std::vector<double> bounds, std::size_t max_series) {
    return adopt(std::make_unique<histogram_family>(std::move(name), std::move(help), metric_type::histogram,
                                                    std::move(label_names), histogram::settings{std::move(bounds)},
                                                    max_series));
}

void registry::add_collected(std::string name, std::string help, metric_type type, std::vector<std::string> label_names,
                             collect_fn collect) {
    if (type == metric_type::histogram) throw std::invalid_argument("a collected family is a counter or a gauge");
    adopt(std::make_unique<collected_family>(std::move(name), std::move(help), type, std::move(label_names),
                                             std::move(collect)));
}

std::string registry::expose() const {
    std::string out;
    std::lock_guard lock(mu_);
    for (const auto& f : families_) f->expose(out);
    return out;
}

}  // namespace shopstream::adapters::metrics
