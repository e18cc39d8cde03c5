// Placeholder so the catalogue links while feed_forward is being written; replaced by the real op.
#include "gradspec/reference/registry.hpp"
#include <stdexcept>
namespace gradspec::reference {
namespace {
template <class T> op_result<T> evaluate_stub(const op_args<T>&, bool) { throw std::logic_error("feed_forward: not implemented yet"); }
}
op_info feed_forward_op() {
  return {"feed_forward", "(not implemented yet)", {}, [](const param_map&) { return std::vector<input_spec>{}; }, {}, {},
          &evaluate_stub<double>, &evaluate_stub<mp_real>};
}
} // namespace gradspec::reference
