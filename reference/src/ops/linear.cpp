#include "gradspec/reference/ops/linear.hpp"

#include "gradspec/reference/kernels.hpp"
#include "gradspec/reference/ops/common.hpp"

namespace gradspec::reference {

template <class T> tensor<T> linear_forward(const tensor<T>& x, const tensor<T>& w, const tensor<T>* b) {
  const std::size_t rows = x.rows(), in = x.cols(), out = static_cast<std::size_t>(w.shape[1]);
  tensor<T> y(with_last(x.shape, w.shape[1]));
  if (b)
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t o = 0; o < out; ++o) y.data[r * out + o] = b->data[o];
  matmul_nn(x.data.data(), w.data.data(), y.data.data(), rows, in, out, b != nullptr);
  return y;
}

template <class T>
linear_grads<T> linear_backward(const tensor<T>& dy, const tensor<T>& x, const tensor<T>& w, bool has_bias) {
  const std::size_t rows = x.rows(), in = x.cols(), out = static_cast<std::size_t>(w.shape[1]);
  linear_grads<T> g{tensor<T>(x.shape), tensor<T>(w.shape), {}};
  matmul_nt(dy.data.data(), w.data.data(), g.dx.data.data(), rows, out, in); // [R,O]·[I,O]ᵀ
  matmul_tn(x.data.data(), dy.data.data(), g.dw.data.data(), in, rows, out); // [R,I]ᵀ·[R,O]
  if (has_bias) {
    g.db = tensor<T>(shape_t{static_cast<std::int64_t>(out)});
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t o = 0; o < out; ++o) g.db.data[o] += dy.data[r * out + o];
  }
  return g;
}

template tensor<double> linear_forward(const tensor<double>&, const tensor<double>&, const tensor<double>*);
template tensor<float> linear_forward(const tensor<float>&, const tensor<float>&, const tensor<float>*);
template tensor<mp_real> linear_forward(const tensor<mp_real>&, const tensor<mp_real>&, const tensor<mp_real>*);
template linear_grads<double> linear_backward(const tensor<double>&, const tensor<double>&, const tensor<double>&, bool);
template linear_grads<float> linear_backward(const tensor<float>&, const tensor<float>&, const tensor<float>&, bool);
template linear_grads<mp_real> linear_backward(const tensor<mp_real>&, const tensor<mp_real>&, const tensor<mp_real>&, bool);

namespace {

template <class T> op_result<T> linear_evaluate(const op_args<T>& args, bool backward) {
  const auto &x = input(args, "x"), &w = input(args, "w"), &b = input(args, "b");
  require_rank(x.shape, 1, "inputs/x", "[..., I]");
  require(w.rank() == 2 && w.shape[0] == x.shape.back(), "inputs/w",
          "expected shape [I, O] with I = " + std::to_string(x.shape.back()) + ", got " + shape_to_string(w.shape));
  require_shape(b.shape, {w.shape[1]}, "inputs/b");
  op_result<T> r;
  r.outputs["y"] = linear_forward(x, w, &b);
  if (backward) {
    auto g = linear_backward(cotangent(args, "y", r.outputs["y"].shape), x, w, true);
    r.gradients = {{"x", std::move(g.dx)}, {"w", std::move(g.dw)}, {"b", std::move(g.db)}};
  }
  return r;
}

} // namespace

op_info linear_op() {
  return {"linear", "y = x·w + b, w stored [in, out]", {},
          [](const param_map&) {
            return std::vector<input_spec>{{"x", "[..., I]"}, {"w", "[I, O]"}, {"b", "[O]"}};
          },
          {{"y", "[..., O]"}}, {}, &linear_evaluate<double>, &linear_evaluate<mp_real>, &linear_evaluate<float>};
}

} // namespace gradspec::reference
