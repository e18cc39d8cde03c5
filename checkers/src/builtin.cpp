// The built-in candidates are the reference itself instantiated in float64 and float32: a case's
// inputs are read from their decimal text into T (correctly rounded, once), evaluated through the
// registry in plain T arithmetic, and the results handed back as a candidate's. No op is written here.
#include "gradspec/checkers/builtin.hpp"

#include "gradspec/cases/generate.hpp"
#include "gradspec/reference/registry.hpp"

#include <exception>
#include <string>

namespace gradspec::checkers {

namespace {

template <class T> void put(candidate_result& r, const std::string& group, const reference::tensors<T>& ts) {
  for (const auto& [name, t] : ts) {
    candidate_tensor out;
    out.shape = t.shape;
    out.values.reserve(t.size());
    for (const auto& v : t.data) out.values.push_back(static_cast<double>(v));
    r.tensors[group + "." + name] = std::move(out);
  }
}

// Outputs and intermediates, and the gradients when the case carries cotangents. A differentiable
// output the case gives no cotangent for gets zeros (its shape known from a forward pass).
template <class T> candidate_result evaluate_in(const reference::op_info& op, const cases::test_case& c) {
  reference::op_args<T> args = cases::case_args<T>(c);
  const bool backward = !c.cotangents.empty();
  if (backward) {
    bool missing = false;
    for (const auto& o : op.outputs) missing = missing || (o.differentiable && !args.cotangents.count(o.name));
    if (missing) {
      const auto forward = reference::evaluate(op, args, false);
      for (const auto& o : op.outputs)
        if (o.differentiable && !args.cotangents.count(o.name) && forward.outputs.count(o.name))
          args.cotangents[o.name] = reference::tensor<T>(forward.outputs.at(o.name).shape);
    }
  }
  const reference::op_result<T> res = reference::evaluate(op, args, backward);
  candidate_result r;
  put(r, "outputs", res.outputs);
  put(r, "gradients", res.gradients);
  put(r, "intermediates", res.intermediates);
  return r;
}

// Never throws: every failure becomes candidate_result::error.
template <class T> candidate_result evaluate_case(const cases::test_case& c) {
  candidate_result r;
  const reference::op_info* op = reference::find_op(c.op);
  if (!op) {
    r.error = "unsupported op \"" + c.op + "\"";
  } else {
    try {
      r = evaluate_in<T>(*op, c);
    } catch (const std::exception& e) {
      r = candidate_result{};
      r.error = e.what();
    } catch (...) {
      r = candidate_result{};
      r.error = "unknown exception";
    }
  }
  r.id = c.id;
  return r;
}

template <class T> builtin_candidate make(const std::string& name, const std::string& alias, const std::string& dtype) {
  builtin_candidate b;
  b.name = name;
  b.alias = alias;
  b.dtype = dtype;
  for (const auto& op : reference::op_catalogue()) b.ops.insert(op.name);
  b.evaluate = &evaluate_case<T>;
  b.version = std::string("gradspec ") + cases::generator_version; // the reference of this release
  return b;
}

} // namespace

const std::vector<builtin_candidate>& builtin_candidates() {
  static const std::vector<builtin_candidate> all = {make<double>("reference-f64", "armadillo-f64", "float64"),
                                                     make<float>("reference-f32", "armadillo-f32", "float32")};
  return all;
}

const builtin_candidate* find_builtin(const std::string& name) {
  for (const auto& b : builtin_candidates())
    if (b.name == name || b.alias == name) return &b;
  return nullptr;
}

const builtin_candidate* baseline_for(const std::string& dtype) {
  if (dtype == "float64") return find_builtin("reference-f64");
  if (dtype == "float32" || dtype == "bfloat16" || dtype == "float16") return find_builtin("reference-f32");
  return nullptr;
}

} // namespace gradspec::checkers
