// Placeholder so the catalogue links while attention is being written; replaced by the real op.
#include "gradspec/reference/registry.hpp"
#include <stdexcept>
namespace gradspec::reference {
namespace {
template <class T> op_result<T> evaluate_stub(const op_args<T>&, bool) { throw std::logic_error("attention: not implemented yet"); }
}
op_info attention_op() {
  return {"attention", "(not implemented yet)", {}, [](const param_map&) { return std::vector<input_spec>{}; }, {}, {},
          &evaluate_stub<double>, &evaluate_stub<mp_real>};
}
} // namespace gradspec::reference
