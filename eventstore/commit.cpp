#include "eventstore/commit.hpp"

#include <flatbuffers/flatbuffers.h>

#include <cstdint>

#include "eventstore/commit_generated.h"

namespace shopstream::eventstore {
namespace fbc = shopstream::fb::commit;

std::vector<std::uint8_t> encode_commit(const commit& c) {
    flatbuffers::FlatBufferBuilder b(256 + c.aggregate_id.size() + c.command_id.size());
    std::vector<flatbuffers::Offset<fbc::event_entry>> entries;
    entries.reserve(c.events.size());
    for (const auto& e : c.events) {
        auto payload = b.CreateVector(e.payload);
        entries.push_back(fbc::Createevent_entry(b, e.type, e.schema_version, payload));
    }
    auto events = b.CreateVector(entries);
    auto aggregate_id = b.CreateString(c.aggregate_id);
    auto command_id = b.CreateString(c.command_id);
    auto root = fbc::Createcommit(b, aggregate_id, c.expected_version, command_id, events);
    b.FinishSizePrefixed(root, fbc::commitIdentifier());
    return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

result<commit_view, codec_error> view_commit(std::span<const std::uint8_t> bytes,
                                             std::vector<std::uint8_t>& aligned_copy) {
    auto fail_with = [](codec_errc code, std::string detail) {
        return fail(codec_error{code, std::move(detail)});
    };
    if (bytes.size() < sizeof(flatbuffers::uoffset_t) + flatbuffers::kFileIdentifierLength) {
        return fail_with(codec_errc::verification_failed, "commit shorter than its header");
    }
    // flatbuffers::Verifier asserts (aborts a debug build) on a buffer this large.
    if (bytes.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
        return fail_with(codec_errc::verification_failed, "commit larger than a FlatBuffer can be");
    }
    // Kafka and LMDB hand out values at any address; FlatBuffers reads scalars in place.
    if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(std::uint64_t) != 0) {
        aligned_copy.assign(bytes.begin(), bytes.end());  // operator new aligns beyond 8
        bytes = aligned_copy;
    }
    // The size prefix must account for every byte: a truncated or padded record is refused.
    if (flatbuffers::GetPrefixedSize(bytes.data()) != bytes.size() - sizeof(flatbuffers::uoffset_t)) {
        return fail_with(codec_errc::verification_failed, "commit size prefix does not match its length");
    }
    flatbuffers::Verifier verifier(bytes.data(), bytes.size());
    if (!fbc::VerifySizePrefixedcommitBuffer(verifier)) {
        return fail_with(codec_errc::verification_failed, "commit refused by the FlatBuffers verifier");
    }
    const auto* root = fbc::GetSizePrefixedcommit(bytes.data());
    if (root->aggregate_id() == nullptr || root->aggregate_id()->size() == 0) {
        return fail_with(codec_errc::invalid_value, "commit without aggregate id");
    }
    if (root->command_id() == nullptr || root->command_id()->size() == 0) {
        return fail_with(codec_errc::invalid_value, "commit without command id");
    }
    if (root->events() == nullptr || root->events()->size() == 0) {
        return fail_with(codec_errc::invalid_value, "commit without events");
    }
    if (root->expected_version() > UINT64_MAX - root->events()->size()) {
        return fail_with(codec_errc::invalid_value, "commit version overflows");
    }
    commit_view v;
    v.aggregate_id = root->aggregate_id()->string_view();
    v.command_id = root->command_id()->string_view();
    v.expected_version = root->expected_version();
    v.events_ = root->events();
    v.event_count_ = root->events()->size();
    return v;
}

encoded_event_view commit_view::event(std::size_t i) const noexcept {
    const auto* e = static_cast<const flatbuffers::Vector<flatbuffers::Offset<fbc::event_entry>>*>(events_)->Get(
        static_cast<flatbuffers::uoffset_t>(i));
    encoded_event_view out{e->type(), e->schema_version(), {}};
    if (const auto* payload = e->payload()) out.payload = {payload->data(), payload->size()};
    return out;
}

result<commit, codec_error> decode_commit(std::span<const std::uint8_t> input) {
    std::vector<std::uint8_t> aligned_copy;
    auto v = view_commit(input, aligned_copy);
    if (!v) return fail(std::move(v.error()));
    commit c{std::string(v->aggregate_id), v->expected_version, std::string(v->command_id), {}};
    c.events.reserve(v->event_count());
    for (std::size_t i = 0; i < v->event_count(); ++i) {
        const auto e = v->event(i);
        c.events.push_back(encoded_event{e.type, e.schema_version, {e.payload.begin(), e.payload.end()}});
    }
    return c;
}

}  // namespace shopstream::eventstore
