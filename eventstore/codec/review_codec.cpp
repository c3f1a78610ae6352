#include "eventstore/codec/review_codec.hpp"

#include <flatbuffers/flatbuffers.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
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
using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;

// ---- encoding ----------------------------------------------------------------------

Offset<fb::actor> write_actor(FlatBufferBuilder& b, const domain::actor& a) {
    const auto id = b.CreateString(a.id);
    return fb::Createactor(b, id, static_cast<std::uint8_t>(a.role));
}

Offset<fb::review_submitted> put(FlatBufferBuilder& b, const dom::review_submitted& ev) {
    const auto id = b.CreateString(ev.id.value());
    const auto sku = b.CreateString(ev.sku);
    const auto author = b.CreateString(ev.author.value());
    const auto title = b.CreateString(ev.title);
    const auto body = b.CreateString(ev.body);
    return fb::Createreview_submitted(b, id, sku, author, ev.rating, title, body, ev.at);
}

Offset<fb::review_edited> put(FlatBufferBuilder& b, const dom::review_edited& ev) {
    const auto id = b.CreateString(ev.id.value());
    const auto title = b.CreateString(ev.title);
    const auto body = b.CreateString(ev.body);
    return fb::Createreview_edited(b, id, ev.rating, title, body, ev.at);
}

Offset<fb::review_retracted> put(FlatBufferBuilder& b, const dom::review_retracted& ev) {
    const auto id = b.CreateString(ev.id.value());
    const auto by = write_actor(b, ev.by);
    return fb::Createreview_retracted(b, id, by, ev.at);
}

Offset<fb::review_hidden> put(FlatBufferBuilder& b, const dom::review_hidden& ev) {
    const auto id = b.CreateString(ev.id.value());
    const auto reason = b.CreateString(ev.reason);
    const auto by = write_actor(b, ev.by);
    return fb::Createreview_hidden(b, id, reason, by, ev.at);
}

Offset<fb::review_restored> put(FlatBufferBuilder& b, const dom::review_restored& ev) {
    const auto id = b.CreateString(ev.id.value());
    const auto reason = b.CreateString(ev.reason);
    const auto by = write_actor(b, ev.by);
    return fb::Createreview_restored(b, id, reason, by, ev.at);
}

Offset<fb::review_marked_helpful> put(FlatBufferBuilder& b, const dom::review_marked_helpful& ev) {
    const auto id = b.CreateString(ev.id.value());
    const auto voter = b.CreateString(ev.voter.value());
    return fb::Createreview_marked_helpful(b, id, voter, ev.at);
}

// ---- decoding ----------------------------------------------------------------------

codec_error fail_with(codec_errc code, std::string detail) {
    return codec_error{code, std::move(detail)};
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

// An event table of the verified envelope: built in one pass, then refused if any field
// was not right.
template <class Table>
decoded<dom::event> read_event(const Table& table) {
    reader r;
    dom::event e = read(r, table);
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
    s.helpful_votes = t.helpful_votes();
    s.generation = t.generation();
    // No rule ties the generation to the status: evolve is total (a log may hold events
    // in any order a foreign writer put them), and every state it makes must round-trip.
    if (s == dom::initial_state()) {
        return invalid("review snapshot holds the initial state, which is stored as empty bytes");
    }
    return s;
}

struct schema {
    using event = dom::event;
    using envelope = fb::envelope;
    using tables = std::tuple<fb::review_submitted, fb::review_edited, fb::review_retracted, fb::review_hidden,
                              fb::review_restored, fb::review_marked_helpful>;
    template <class Table>
    static constexpr fb::event tag = fb::eventTraits<Table>::enum_value;
    static constexpr std::string_view context = "review";
    static constexpr std::string_view envelope_name = "review envelope (\"SSRV\")";
    static constexpr auto create_envelope = &fb::Createenvelope;
    static constexpr auto finish_envelope = &fb::FinishSizePrefixedenvelopeBuffer;
    static constexpr auto verify_envelope = &fb::VerifySizePrefixedenvelopeBuffer;

    using state = dom::state;
    using snapshot = fbs::snapshot;
    static constexpr std::string_view snapshot_name = "review snapshot (\"SSRS\")";
    static constexpr auto initial_state = &dom::initial_state;
    static constexpr auto finish_snapshot = &fbs::FinishSizePrefixedsnapshotBuffer;
    static constexpr auto verify_snapshot = &fbs::VerifySizePrefixedsnapshotBuffer;
};

}  // namespace

encoded_event encode(const dom::event& e) {
    return fb_support::encode_event<schema>(e, [](FlatBufferBuilder& b, const auto& ev) { return put(b, ev); });
}

decoded<dom::event> decode(std::uint16_t type, std::uint16_t schema_version,
                           std::span<const std::uint8_t> payload) {
    return fb_support::decode_event<schema>(type, schema_version, payload,
                                            [](const auto& t) { return read_event(t); });
}

std::vector<std::uint8_t> encode_state(const dom::state& s) {
    return fb_support::encode_snapshot<schema>(s, snapshot_size_hint(s), [&s](FlatBufferBuilder& b) {
        using fb_support::put;
        const auto id = put(b, s.id.value());
        const auto sku = put(b, s.sku);
        const auto author = put(b, s.author.value());
        const auto title = put(b, s.title);
        const auto body = put(b, s.body);
        flatbuffers::Optional<std::int64_t> edited_at = flatbuffers::nullopt;
        if (s.edited_at) edited_at = *s.edited_at;
        return fbs::Createsnapshot(b, static_cast<fbs::review_status>(s.status), id, sku, author, s.rating, title,
                                   body, s.submitted_at, edited_at, s.helpful_votes, s.generation);
    });
}

decoded<dom::state> decode_state(std::span<const std::uint8_t> bytes) {
    return fb_support::decode_snapshot<schema>(bytes, read_state);
}

}  // namespace shopstream::eventstore::review_codec
