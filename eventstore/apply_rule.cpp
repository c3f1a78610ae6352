#include "eventstore/apply_rule.hpp"

#include <algorithm>
#include <utility>

namespace shopstream::eventstore {

judgement judge(const aggregate_head& head, std::string_view command_id,
                std::uint64_t expected_version) {
    const auto& recent = head.recent_commands;
    const auto seen = std::find_if(recent.rbegin(), recent.rend(), [&](const applied_command& a) {
        return a.command_id == command_id;
    });
    if (seen != recent.rend()) return {verdict::duplicate, *seen};
    if (expected_version == head.version) return {verdict::applied, std::nullopt};
    return {verdict::loser, std::nullopt};
}

applied_command record_applied(aggregate_head& head, std::string command_id,
                               std::size_t event_count, position at) {
    head.version += event_count;
    applied_command applied{std::move(command_id), head.version, at};
    head.recent_commands.push_back(applied);
    if (head.recent_commands.size() > recent_command_window) {
        const auto excess = head.recent_commands.size() - recent_command_window;
        head.recent_commands.erase(head.recent_commands.begin(),
                                   head.recent_commands.begin() + static_cast<std::ptrdiff_t>(excess));
    }
    return applied;
}

}  // namespace shopstream::eventstore
