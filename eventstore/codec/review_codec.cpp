#include "eventstore/codec/review_codec.hpp"

#include <flatbuffers/flatbuffers.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/utf8.hpp"
#include "domain/review/review_events_generated.h"
#include "eventstore/codec/fb_support.hpp"
#include "eventstore/codec/review_state_generated.h"

// Decoding checks what makes a value impossible for the domain (a missing field, a
// rating outside 1-5, an unknown role, invalid UTF-8, a malformed id) but not the text
// length limits: those are command policy, and a log written under an older limit must
// stay readable if the limit is ever tightened.

namespace shopstream::eventstore::review_codec {
namespace {

namespace dom = domain::review;
namespace fb = shopstream::fb::review;

constexpr std::uint16_t current_version = 1;

template <class... F>
struct overloaded : F... {
    using F::operator()...;
};

// ---- encoding ----------------------------------------------------------------------

flatbuffers::Offset<fb::actor> write_actor(flatbuffers::FlatBufferBuilder& b,
                                           const domain::actor& a) {
    const auto id = b.CreateString(a.id);
    return fb::Createactor(b, id, static_cast<std::uint8_t>(a.role));
}

template <class Event>
encoded_event finish(flatbuffers::FlatBufferBuilder& b, fb::event tag,
                     flatbuffers::Offset<void> table) {
    const auto root = fb::Createenvelope(b, tag, table);
    b.FinishSizePrefixed(root, fb::envelopeIdentifier());
    const std::uint8_t* data = b.GetBufferPointer();
    return encoded_event{Event::type_id, Event::schema_version,
                         std::vector<std::uint8_t>(data, data + b.GetSize())};
}

// ---- decoding ----------------------------------------------------------------------

codec_error fail_with(codec_errc code, std::string detail) {
    return codec_error{code, std::move(detail)};
}

// The union member each review type id must carry.
std::optional<fb::event> union_tag_for(std::uint16_t type) {
    switch (type) {
        case dom::review_submitted::type_id: return fb::event::review_submitted;
        case dom::review_edited::type_id: return fb::event::review_edited;
        case dom::review_retracted::type_id: return fb::event::review_retracted;
        case dom::review_hidden::type_id: return fb::event::review_hidden;
        case dom::review_restored::type_id: return fb::event::review_restored;
        case dom::review_marked_helpful::type_id: return fb::event::review_marked_helpful;
        default: return std::nullopt;
    }
}

// Field readers: each returns the value or records why it cannot (first error wins) and
// returns a default, so a reader builds the event in one expression and checks once.
class reader {
public:
    std::string text(const flatbuffers::String* s, std::string_view field) {
        if (s == nullptr) {
            missing(field);
            return {};
        }
        std::string value(s->data(), s->size());
        if (!utf8::is_valid(value)) invalid(field, "is not valid UTF-8");
        return value;
    }

    std::string sku(const flatbuffers::String* s) {
        std::string value = text(s, "sku");
        if (!error_ && !domain::is_valid_sku(value)) invalid("sku", "is not a valid sku");
        return value;
    }

    domain::customer_id customer(const flatbuffers::String* s, std::string_view field) {
        std::string value = text(s, field);
        if (!error_ && !domain::is_valid_id(value)) invalid(field, "is not a valid customer id");
        return domain::customer_id{std::move(value)};
    }

    domain::review_id review(const flatbuffers::String* s) {
        std::string value = text(s, "id");
        if (!error_ && !dom::parse_review_id(value))
            invalid("id", "is not a review id (<sku>~<customer>)");
        return domain::review_id{std::move(value)};
    }

    std::uint8_t rating(flatbuffers::Optional<std::uint8_t> r) {
        if (!r) {
            missing("rating");
            return 0;
        }
        if (*r < dom::min_rating || *r > dom::max_rating) invalid("rating", "is outside 1-5");
        return *r;
    }

    domain::timestamp_ms at(flatbuffers::Optional<std::int64_t> t) {
        if (!t) {
            missing("at");
            return 0;
        }
        return *t;
    }

    domain::actor actor(const fb::actor* a) {
        if (a == nullptr) {
            missing("by");
            return {};
        }
        domain::actor out;
        out.id = text(a->id(), "by.id");
        const auto role = a->role();
        if (!role) {
            missing("by.role");
            return out;
        }
        if (*role > static_cast<std::uint8_t>(domain::role::system)) {
            invalid("by.role", "is not a known role");
            return out;
        }
        out.role = static_cast<domain::role>(*role);
        return out;
    }

    [[nodiscard]] const std::optional<codec_error>& error() const noexcept { return error_; }

    void invalid(std::string_view field, std::string_view why) {
        if (!error_)
            error_ =
                fail_with(codec_errc::invalid_value, std::string(field) + " " + std::string(why));
    }

private:
    void missing(std::string_view field) { invalid(field, "is missing"); }

    std::optional<codec_error> error_;
};

dom::event read(reader& r, const fb::review_submitted& t) {
    dom::review_submitted e{r.review(t.id()),
                            r.sku(t.sku()),
                            r.customer(t.author(), "author"),
                            r.rating(t.rating()),
                            r.text(t.title(), "title"),
                            r.text(t.body(), "body"),
                            r.at(t.at())};
    if (!r.error() && e.id != dom::review_id_for(e.sku, e.author)) {
        r.invalid("id", "is not the id of this sku and author");
    }
    return e;
}

dom::event read(reader& r, const fb::review_edited& t) {
    return dom::review_edited{r.review(t.id()), r.rating(t.rating()), r.text(t.title(), "title"),
                              r.text(t.body(), "body"), r.at(t.at())};
}

dom::event read(reader& r, const fb::review_retracted& t) {
    return dom::review_retracted{r.review(t.id()), r.actor(t.by()), r.at(t.at())};
}

dom::event read(reader& r, const fb::review_hidden& t) {
    return dom::review_hidden{r.review(t.id()), r.text(t.reason(), "reason"), r.actor(t.by()),
                              r.at(t.at())};
}

dom::event read(reader& r, const fb::review_restored& t) {
    return dom::review_restored{r.review(t.id()), r.text(t.reason(), "reason"), r.actor(t.by()),
                                r.at(t.at())};
}

dom::event read(reader& r, const fb::review_marked_helpful& t) {
    return dom::review_marked_helpful{r.review(t.id()), r.customer(t.voter(), "voter"),
                                      r.at(t.at())};
}

// Reads the verified envelope's event, which the caller has checked has the union tag
// of `Table`.
template <class Table>
decoded<dom::event> read_event(const fb::envelope& env) {
    const auto* table = env.event_as<Table>();
    if (table == nullptr)
        return fail(fail_with(codec_errc::invalid_value, "the envelope holds no event"));
    reader r;
    dom::event e = read(r, *table);
    if (r.error()) return fail(*r.error());
    return e;
}

// ---- state snapshots -----------------------------------------------------------------

namespace fbs = shopstream::fb::review_state;
using fb_support::invalid;
using fb_support::same_value;

// The storage enum mirrors the domain's value for value, so it converts by cast.
static_assert(same_value(fbs::review_status::none, dom::review_status::none) &&
              same_value(fbs::review_status::visible, dom::review_status::visible) &&
              same_value(fbs::review_status::hidden, dom::review_status::hidden) &&
              same_value(fbs::review_status::retracted, dom::review_status::retracted) &&
              same_value(fbs::review_status::MAX, dom::review_status::retracted));

// Enough for the whole buffer, so the builder allocates once.
std::size_t snapshot_size_hint(const dom::state& s) {
    std::size_t size = 192 + s.id.value().size() + s.sku.size() + s.author.value().size() +
                       s.title.size() + s.body.size();
    for (const auto& v : s.helpful_voters) size += 12 + v.value().size();
    return size;
}

result<std::string_view, std::string> utf8_of(const flatbuffers::String* s) {
    if (s == nullptr) return fail(std::string("is missing"));
    const std::string_view value(s->c_str(), s->size());
    if (!utf8::is_valid(value)) return fail(std::string("is not valid UTF-8"));
    return value;
}

decoded<dom::state> read_state(const fbs::snapshot& t) {
    dom::state s;
    const auto status = t.status();
    if (!status) return invalid("review snapshot.status is missing");
    if (*status > fbs::review_status::MAX) {
        return invalid("review snapshot.status has unknown value " +
                       std::to_string(static_cast<unsigned>(*status)));
    }
    s.status = static_cast<dom::review_status>(*status);
    // id, sku and author all come from one review_submitted: all empty (never
    // submitted), or a valid sku and author and the id derived from them.
    if (t.id() == nullptr) return invalid("review snapshot.id is missing");
    if (t.sku() == nullptr) return invalid("review snapshot.sku is missing");
    if (t.author() == nullptr) return invalid("review snapshot.author is missing");
    s.id = domain::review_id{t.id()->str()};
    s.sku = t.sku()->str();
    s.author = domain::customer_id{t.author()->str()};
    if (!s.id.empty() || !s.sku.empty() || !s.author.empty()) {
        if (!domain::is_valid_sku(s.sku)) return invalid("review snapshot.sku is not a valid sku");
        if (!domain::is_valid_id(s.author.value()))
            return invalid("review snapshot.author is not a valid customer id");
        if (s.id != dom::review_id_for(s.sku, s.author))
            return invalid("review snapshot.id is not the id of its sku and author");
    }
    if (t.rating() > dom::max_rating) {  // 0 until submitted
        return invalid("review snapshot.rating " + std::to_string(t.rating()) +
                       " is outside 1-5");
    }
    s.rating = t.rating();
    auto title = utf8_of(t.title());
    if (!title) return invalid("review snapshot.title " + title.error());
    s.title = *title;
    auto body = utf8_of(t.body());
    if (!body) return invalid("review snapshot.body " + body.error());
    s.body = *body;
    s.submitted_at = t.submitted_at();
    if (const auto edited = t.edited_at()) s.edited_at = *edited;  // null: never edited
    const auto* voters = t.helpful_voters();
    if (voters == nullptr) return invalid("review snapshot.helpful_voters is missing");
    s.helpful_voters.reserve(voters->size());
    std::string_view previous;
    for (const flatbuffers::String* v : *voters) {
        const std::string at =
            "review snapshot.helpful_voters[" + std::to_string(s.helpful_voters.size()) + "]";
        if (v == nullptr) return invalid(at + " is missing");
        const std::string_view voter(v->c_str(), v->size());
        if (!domain::is_valid_id(voter)) return invalid(at + " is not a valid customer id");
        // has_voted() binary-searches: order and uniqueness are part of the state.
        if (!s.helpful_voters.empty() && voter <= previous)
            return invalid(at + " is not after the voter before it");
        s.helpful_voters.emplace_back(std::string(voter));
        previous = voter;
    }
    if (s == dom::initial_state()) {
        return invalid("review snapshot holds the initial state, which is stored as empty bytes");
    }
    return s;
}

}  // namespace

encoded_event encode(const dom::event& e) {
    flatbuffers::FlatBufferBuilder b(256);
    return std::visit(
        overloaded{
            [&](const dom::review_submitted& ev) {
                const auto id = b.CreateString(ev.id.value());
                const auto sku = b.CreateString(ev.sku);
                const auto author = b.CreateString(ev.author.value());
                const auto title = b.CreateString(ev.title);
                const auto body = b.CreateString(ev.body);
                const auto t =
                    fb::Createreview_submitted(b, id, sku, author, ev.rating, title, body, ev.at);
                return finish<dom::review_submitted>(b, fb::event::review_submitted, t.Union());
            },
            [&](const dom::review_edited& ev) {
                const auto id = b.CreateString(ev.id.value());
                const auto title = b.CreateString(ev.title);
                const auto body = b.CreateString(ev.body);
                const auto t = fb::Createreview_edited(b, id, ev.rating, title, body, ev.at);
                return finish<dom::review_edited>(b, fb::event::review_edited, t.Union());
            },
            [&](const dom::review_retracted& ev) {
                const auto id = b.CreateString(ev.id.value());
                const auto by = write_actor(b, ev.by);
                const auto t = fb::Createreview_retracted(b, id, by, ev.at);
                return finish<dom::review_retracted>(b, fb::event::review_retracted, t.Union());
            },
            [&](const dom::review_hidden& ev) {
                const auto id = b.CreateString(ev.id.value());
                const auto reason = b.CreateString(ev.reason);
                const auto by = write_actor(b, ev.by);
                const auto t = fb::Createreview_hidden(b, id, reason, by, ev.at);
                return finish<dom::review_hidden>(b, fb::event::review_hidden, t.Union());
            },
            [&](const dom::review_restored& ev) {
                const auto id = b.CreateString(ev.id.value());
                const auto reason = b.CreateString(ev.reason);
                const auto by = write_actor(b, ev.by);
                const auto t = fb::Createreview_restored(b, id, reason, by, ev.at);
                return finish<dom::review_restored>(b, fb::event::review_restored, t.Union());
            },
            [&](const dom::review_marked_helpful& ev) {
                const auto id = b.CreateString(ev.id.value());
                const auto voter = b.CreateString(ev.voter.value());
                const auto t = fb::Createreview_marked_helpful(b, id, voter, ev.at);
                return finish<dom::review_marked_helpful>(b, fb::event::review_marked_helpful,
                                                          t.Union());
            },
        },
        e);
}

decoded<dom::event> decode(std::uint16_t type, std::uint16_t schema_version,
                           std::span<const std::uint8_t> payload) {
    const auto expected = union_tag_for(type);
    if (!expected) {
        return fail(fail_with(codec_errc::unknown_type,
                              "no review event has type id " + std::to_string(type)));
    }
    if (schema_version != current_version) {
        return fail(
            fail_with(codec_errc::unsupported_version, "review event type " + std::to_string(type) +
                                                           " has no reader for schema version " +
                                                           std::to_string(schema_version)));
    }

    const fb_support::aligned_bytes aligned(payload);
    const auto opened = fb_support::verified_envelope<fb::envelope>(
        aligned, &fb::VerifySizePrefixedenvelopeBuffer, "review envelope (\"SSRV\")", type, *expected);
    if (!opened) return fail(opened.error());
    switch (*expected) {
        case fb::event::review_submitted: return read_event<fb::review_submitted>(**opened);
        case fb::event::review_edited: return read_event<fb::review_edited>(**opened);
        case fb::event::review_retracted: return read_event<fb::review_retracted>(**opened);
        case fb::event::review_hidden: return read_event<fb::review_hidden>(**opened);
        case fb::event::review_restored: return read_event<fb::review_restored>(**opened);
        case fb::event::review_marked_helpful: return read_event<fb::review_marked_helpful>(**opened);
        case fb::event::NONE: break;
    }
    return fail(
        fail_with(codec_errc::type_mismatch, "unreachable: union member outside the schema"));
}

std::vector<std::uint8_t> encode_state(const dom::state& s) {
    if (s == dom::initial_state()) return {};
    flatbuffers::FlatBufferBuilder b(snapshot_size_hint(s));
    using fb_support::put;
    const auto id = put(b, s.id.value());
    const auto sku = put(b, s.sku);
    const auto author = put(b, s.author.value());
    const auto title = put(b, s.title);
    const auto body = put(b, s.body);
    std::vector<flatbuffers::Offset<flatbuffers::String>> voters;
    voters.reserve(s.helpful_voters.size());
    for (const auto& v : s.helpful_voters) voters.push_back(put(b, v.value()));
    const auto voter_vector = b.CreateVector(voters);
    flatbuffers::Optional<std::int64_t> edited_at = flatbuffers::nullopt;
    if (s.edited_at) edited_at = *s.edited_at;
    const auto root =
        fbs::Createsnapshot(b, static_cast<fbs::review_status>(s.status), id, sku, author,
                            s.rating, title, body, s.submitted_at, edited_at, voter_vector);
    fbs::FinishSizePrefixedsnapshotBuffer(b, root);
    const std::uint8_t* data = b.GetBufferPointer();
    return std::vector<std::uint8_t>(data, data + b.GetSize());
}

decoded<dom::state> decode_state(std::span<const std::uint8_t> bytes) {
    if (bytes.empty()) return dom::initial_state();
    const fb_support::aligned_bytes aligned(bytes);
    const auto root = fb_support::verified_root<fbs::snapshot>(
        aligned.bytes(), &fbs::VerifySizePrefixedsnapshotBuffer, "review snapshot (\"SSRS\")");
    if (!root) return std::unexpected(root.error());
    return read_state(**root);
}

}  // namespace shopstream::eventstore::review_codec
