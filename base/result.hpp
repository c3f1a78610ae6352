#pragma once
// Errors are values: an operation that can fail in an expected way returns
// result<T, E> (std::expected). Exceptions are kept for what must abort the operation.

#include <expected>

namespace shopstream {

template <class T, class E>
using result = std::expected<T, E>;

template <class E>
[[nodiscard]] constexpr std::unexpected<E> fail(E error) {
    return std::unexpected<E>(std::move(error));
}

}  // namespace shopstream
