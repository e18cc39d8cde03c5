// Moving attention heads between the model layout and the heads layout (multi_head_attention,
// llama_block): [..., T, H·D] <-> [..., H, T, D], head h on the contiguous columns [h·D, (h+1)·D).
#pragma once

#include "gradspec/reference/ops/common.hpp"
#include "gradspec/reference/tensor.hpp"

#include <cstddef>
#include <cstdint>

namespace gradspec::reference {

// [..., T, H·D] -> [..., H, T, D]: head h takes the contiguous columns [h·D, (h+1)·D).
template <class T> tensor<T> split_heads(const tensor<T>& t, std::size_t H) {
  const std::size_t r = t.rank(), Tn = static_cast<std::size_t>(t.shape[r - 2]), C = t.cols(), dh = C / H;
  const std::size_t nb = numel(leading_axes(t.shape, 2));
  shape_t s = leading_axes(t.shape, 2);
  s.insert(s.end(), {static_cast<std::int64_t>(H), static_cast<std::int64_t>(Tn), static_cast<std::int64_t>(dh)});
  tensor<T> out(std::move(s));
  for (std::size_t b = 0; b < nb; ++b)
    for (std::size_t h = 0; h < H; ++h)
      for (std::size_t i = 0; i < Tn; ++i)
        for (std::size_t c = 0; c < dh; ++c)
          out.data[((b * H + h) * Tn + i) * dh + c] = t.data[(b * Tn + i) * C + h * dh + c];
  return out;
}

// [..., H, T, D] -> [..., T, H·D]: heads side by side, in order (the inverse of split_heads).
template <class T> tensor<T> merge_heads(const tensor<T>& t) {
  const std::size_t r = t.rank(), H = static_cast<std::size_t>(t.shape[r - 3]), Tn = static_cast<std::size_t>(t.shape[r - 2]),
                    dh = t.cols(), C = H * dh;
  const std::size_t nb = numel(leading_axes(t.shape, 3));
  shape_t s = leading_axes(t.shape, 3);
  s.insert(s.end(), {static_cast<std::int64_t>(Tn), static_cast<std::int64_t>(C)});
  tensor<T> out(std::move(s));
  for (std::size_t b = 0; b < nb; ++b)
    for (std::size_t h = 0; h < H; ++h)
      for (std::size_t i = 0; i < Tn; ++i)
        for (std::size_t c = 0; c < dh; ++c)
          out.data[(b * Tn + i) * C + h * dh + c] = t.data[((b * H + h) * Tn + i) * dh + c];
  return out;
}

} // namespace gradspec::reference
