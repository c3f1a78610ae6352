#pragma once
// function_ref<R(Args...)>: a non-owning reference to a callable, for callbacks that run
// only while the call that receives them runs (visitors over a read transaction). Two
// pointers, no allocation, unlike std::function; std::function_ref arrives in C++26 and
// no Debian package of this toolchain has it, hence these few lines. The referenced
// callable must outlive every call through the reference. Safe from any thread as far
// as the callable is.

#include <memory>
#include <type_traits>
#include <utility>

namespace shopstream {

template <class Signature>
class function_ref;

template <class R, class... Args>
class function_ref<R(Args...)> {
public:
    template <class F>
        requires(!std::is_same_v<std::remove_cvref_t<F>, function_ref> && std::is_invocable_r_v<R, F&, Args...>)
    function_ref(F&& f) noexcept  // NOLINT: implicit on purpose, like std::function_ref
        : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
          call_([](void* object, Args... args) -> R {
              return (*static_cast<std::remove_reference_t<F>*>(object))(std::forward<Args>(args)...);
          }) {}

    R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

private:
    void* object_;
    R (*call_)(void*, Args...);
};

}  // namespace shopstream
