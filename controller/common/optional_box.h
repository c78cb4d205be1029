// File: controller/common/optional_box.h
//
// OptionalBox<T>: an optional value kept on the heap, for large members that are almost always
// empty in objects held by the thousand (a registration's per-target etcd options, a spec's
// `etcd` and `valueFrom`). An empty box is one null pointer (8 bytes) where std::optional<T>
// carries sizeof(T) + 8 whether set or not: 376 bytes for an etcd::ClientOptions, so 3.7 MB
// for the engine holding 10 000 registrations on its default target (bench/README.md, issue 13).
//
// Flow: used like std::optional<T> — `if (box)`, `*box`, `box->`, `box.value_or(v)`, `box = v`,
// `box = std::nullopt`, `box.emplace(...)`, `box.reset()`; it converts from and to
// std::optional<T>. A value semantic, not a pointer one: copies copy the value (a new allocation),
// and == compares values (two empty boxes are equal, as std::optional's). A moved-from box is
// empty. Cost: setting it allocates once; an empty box allocates nothing; copying a set box
// allocates.
//
// Thread-safety: thread-compatible (as std::optional). Ownership: the box owns its value.
#pragma once

#include <memory>
#include <optional>
#include <utility>

namespace registrar {

template <typename T>
class OptionalBox {
 public:
  using value_type = T;

  OptionalBox() = default;
  OptionalBox(std::nullopt_t) {}  // NOLINT(google-explicit-constructor): as std::optional
  OptionalBox(const T& value) : value_(std::make_unique<T>(value)) {}        // NOLINT
  OptionalBox(T&& value) : value_(std::make_unique<T>(std::move(value))) {}  // NOLINT
  OptionalBox(const std::optional<T>& value) {                               // NOLINT
    if (value) {
      value_ = std::make_unique<T>(*value);
    }
  }
  OptionalBox(std::optional<T>&& value) {  // NOLINT
    if (value) {
      value_ = std::make_unique<T>(std::move(*value));
    }
  }
  OptionalBox(const OptionalBox& other)
      : value_(other.value_ ? std::make_unique<T>(*other.value_) : nullptr) {}
  OptionalBox(OptionalBox&&) noexcept = default;
  OptionalBox& operator=(const OptionalBox& other) {
    if (this != &other) {
      value_ = other.value_ ? std::make_unique<T>(*other.value_) : nullptr;
    }
    return *this;
  }
  OptionalBox& operator=(OptionalBox&&) noexcept = default;
  OptionalBox& operator=(std::nullopt_t) {
    value_.reset();
    return *this;
  }
  ~OptionalBox() = default;

  bool has_value() const { return value_ != nullptr; }
  explicit operator bool() const { return has_value(); }

  // REQUIRES: has_value() (as std::optional's operator*).
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return value_.get(); }
  const T* operator->() const { return value_.get(); }
  // Throws std::bad_optional_access when empty, as std::optional::value().
  T& value() {
    if (!value_) {
      throw std::bad_optional_access();
    }
    return *value_;
  }
  const T& value() const {
    if (!value_) {
      throw std::bad_optional_access();
    }
    return *value_;
  }
  template <typename U>
  T value_or(U&& fallback) const {
    return value_ ? *value_ : static_cast<T>(std::forward<U>(fallback));
  }

  template <typename... Args>
  T& emplace(Args&&... args) {
    value_ = std::make_unique<T>(std::forward<Args>(args)...);
    return *value_;
  }
  void reset() { value_.reset(); }

  // A copy as std::optional (for an API that takes one).
  std::optional<T> ToOptional() const { return value_ ? std::optional<T>(*value_) : std::nullopt; }

  friend bool operator==(const OptionalBox& a, const OptionalBox& b) {
    if (a.has_value() != b.has_value()) {
      return false;
    }
    return !a.has_value() || *a.value_ == *b.value_;
  }
  friend bool operator==(const OptionalBox& a, std::nullopt_t) { return !a.has_value(); }

 private:
  std::unique_ptr<T> value_;
};

}  // namespace registrar
