// A small row-major tensor: a shape and a flat vector of values. Leading axes are batch axes; most
// ops view a tensor [..., N] as `rows() x N`. Integer tensors (token ids, targets) are separate.
#pragma once

#include "gradspec/errors.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gradspec::reference {

using shape_t = std::vector<std::int64_t>;

inline std::size_t numel(const shape_t& shape) {
  std::size_t n = 1;
  for (auto d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

// "[2, 3, 4]"
std::string shape_to_string(const shape_t& shape);

// No tensor, given or computed, holds more values than this: inputs are bounded by the file size,
// but a shape they imply (linear's [N, O] from x [N, 1] and w [1, O], attention's [T, T] scores)
// may not be, and at 257 bits each value costs about 100 bytes.
inline constexpr std::size_t max_tensor_values = std::size_t(1) << 24;

// numel(shape), refused (bad_input, no path: the caller knows the case) before anything is
// allocated when it would exceed max_tensor_values or a dimension is negative.
inline std::size_t checked_numel(const shape_t& shape) {
  std::size_t n = 1;
  bool too_big = false;
  for (auto d : shape) {
    if (d < 0) throw bad_input("", "negative dimension in shape " + shape_to_string(shape));
    const auto u = static_cast<std::size_t>(d);
    if (u != 0 && n > max_tensor_values / u) too_big = true; // checked before multiplying: no overflow
    else n *= u;
  }
  if (too_big && std::find(shape.begin(), shape.end(), 0) == shape.end())
    throw bad_input("", "a tensor of shape " + shape_to_string(shape) + " would hold more than " + std::to_string(max_tensor_values) +
                            " values, the most any case may imply");
  return too_big ? 0 : n;
}

template <class T> struct tensor {
  shape_t shape;
  std::vector<T> data;

  tensor() = default;
  explicit tensor(shape_t s) : shape(std::move(s)), data(checked_numel(shape)) {} // zero-filled; size checked
  tensor(shape_t s, std::vector<T> values) : shape(std::move(s)), data(std::move(values)) {}

  std::size_t size() const { return data.size(); }
  std::size_t rank() const { return shape.size(); }
  // Length of the last axis (1 for a scalar) and the number of rows in front of it.
  std::size_t cols() const { return shape.empty() ? 1 : static_cast<std::size_t>(shape.back()); }
  std::size_t rows() const { return cols() == 0 ? 0 : size() / cols(); }
  T* row(std::size_t r) { return data.data() + r * cols(); }
  const T* row(std::size_t r) const { return data.data() + r * cols(); }
  T& operator[](std::size_t i) { return data[i]; }
  const T& operator[](std::size_t i) const { return data[i]; }
};

struct int_tensor {
  shape_t shape;
  std::vector<std::int64_t> data;
  std::size_t size() const { return data.size(); }
};

template <class T> using tensors = std::map<std::string, tensor<T>>;
using int_tensors = std::map<std::string, int_tensor>;

// a += b, elementwise (same size).
template <class T> void add_into(tensor<T>& a, const tensor<T>& b) {
  for (std::size_t i = 0; i < a.size(); ++i) a.data[i] += b.data[i];
}

// The same tensor with another shape of equal size.
template <class T> tensor<T> reshaped(tensor<T> t, shape_t shape) {
  t.shape = std::move(shape);
  return t;
}

// Converts a tensor's values between scalar types (through decimal text only where exactness
// matters: callers that need it parse the original text instead).
template <class To, class From> tensor<To> tensor_cast(const tensor<From>& t) {
  tensor<To> out(t.shape);
  for (std::size_t i = 0; i < t.size(); ++i) out.data[i] = static_cast<To>(t.data[i]);
  return out;
}

} // namespace gradspec::reference
