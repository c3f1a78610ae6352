#include "eventstore/commit.hpp"

#include <flatbuffers/flatbuffers.h>

#include "eventstore/codec/fb_support.hpp"
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

result<commit, codec_error> decode_commit(std::span<const std::uint8_t> input) {
    // Kafka hands out values at any address; FlatBuffers reads scalars in place.
    const fb_support::aligned_bytes aligned(input);
    const std::span<const std::uint8_t> bytes = aligned.bytes();
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
    commit c;
    c.aggregate_id = root->aggregate_id()->str();
    c.command_id = root->command_id()->str();
    c.expected_version = root->expected_version();
    c.events.reserve(root->events()->size());
    for (const auto* e : *root->events()) {
        encoded_event out;
        out.type = e->type();
        out.schema_version = e->schema_version();
        if (e->payload() != nullptr) out.payload.assign(e->payload()->begin(), e->payload()->end());
        c.events.push_back(std::move(out));
    }
    return c;
}

}  // namespace shopstream::eventstore
