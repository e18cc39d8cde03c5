// rope: rotary position embedding (Su et al. 2021, RoFormer; spec: reference/spec/rope.md).
// x [..., T, D] -> y [..., T, D]. Row t of the T axis sits at position p = offset + t; pair i in
// [0, R/2), R = rotary_dim (even, <= D), turns by θ = p · base^(-2i/R):
//   (a, b) -> (a·cos θ - b·sin θ, b·cos θ + a·sin θ)
// style half: pair i is features (i, i + R/2) (rotate_half: Hugging Face LLaMA, GPT-NeoX);
// style interleaved: pair i is features (2i, 2i + 1) (GPT-J, Meta's original LLaMA).
// Features R..D-1 pass through. The map is a rotation, so the backward pass turns dy by -θ.
#pragma once

#include "gradspec/reference/scalar.hpp"
#include "gradspec/reference/tensor.hpp"

#include <cstdint>
#include <vector>

namespace gradspec::reference {

enum class rope_style { half, interleaved };

// The scalar the angles are formed in: T itself, except double for float. Forming p·base^(-2i/R) in
// float32 is the long-context phase-drift bug (0.06 rad at p = 10^6), so the float instantiation,
// which is also the float32 baseline of the verdict rule, forms the angle in double as a careful
// implementation does and rounds only cos and sin to float.
template <class T> struct rope_angle_scalar { using type = T; };
template <> struct rope_angle_scalar<float> { using type = double; };
template <class T> using rope_angle_t = typename rope_angle_scalar<T>::type;

// cos θ and sin θ for rows t = 0..length-1 and pairs i = 0..R/2-1, [length, R/2] row-major:
// base^(-2i/R) rounded once, times the exact position, in rope_angle_t<T> (mp_real at the working
// precision), then cos and sin rounded to T.
template <class T> struct rope_angles {
  std::size_t length = 0, pairs = 0;
  std::vector<T> cos, sin;
};
template <class T>
rope_angles<T> rope_angles_for(std::int64_t length, std::int64_t rotary_dim, const rope_angle_t<T>& base, std::int64_t offset);

// y = rotate(x) over the last two axes [T, D]; x's T axis must equal angles.length.
template <class T> tensor<T> rope_forward(const tensor<T>& x, const rope_angles<T>& angles, rope_style style);
// dx = the rotation by -θ of dy.
template <class T> tensor<T> rope_backward(const tensor<T>& dy, const rope_angles<T>& angles, rope_style style);

#define GRADSPEC_ROPE_EXTERN(T)                                                                              \
  extern template rope_angles<T> rope_angles_for(std::int64_t, std::int64_t, const rope_angle_t<T>&, std::int64_t); \
  extern template tensor<T> rope_forward(const tensor<T>&, const rope_angles<T>&, rope_style);               \
  extern template tensor<T> rope_backward(const tensor<T>&, const rope_angles<T>&, rope_style);
GRADSPEC_ROPE_EXTERN(double)
GRADSPEC_ROPE_EXTERN(float)
GRADSPEC_ROPE_EXTERN(mp_real)
#undef GRADSPEC_ROPE_EXTERN

} // namespace gradspec::reference
