// The built-in candidates are the reference itself instantiated in float64 and float32: a case's
// inputs are read from their decimal text into T (correctly rounded, once), evaluated through the
// registry in plain T arithmetic, and the results handed back as a candidate's. No op is written here.
#include "gradspec/checkers/builtin.hpp"

#include "gradspec/cases/generate.hpp"
#include "gradspec/checkers/compare.hpp"
#include "gradspec/reference/registry.hpp"

#include <exception>
#include <memory>
#include <string>
#include <type_traits>

namespace gradspec::checkers {

namespace {

template <class T> void put(candidate_result& r, const std::string& group, reference::tensors<T>& ts) {
  for (auto& [name, t] : ts) {
    candidate_tensor out;
    out.shape = t.shape;
    if constexpr (std::is_same_v<T, double>) {
      out.values = std::move(t.data); // already double: handed over, not copied
    } else {
      out.values.reserve(t.size());
      for (const auto& v : t.data) out.values.push_back(static_cast<double>(v));
    }
    r.tensors[group + "." + name] = std::move(out);
  }
}

// Outputs and intermediates, and the gradients when the case carries cotangents. A differentiable
// output the case gives no cotangent for gets zeros (its shape known from a forward pass).
template <class T> candidate_result evaluate_in(const reference::op_info& op, const cases::test_case& c, double perturb) {
  // The inputs in T: for double the case's shared copy (read once by check), copied only to be changed.
  std::shared_ptr<const reference::op_args<T>> held;
  if constexpr (std::is_same_v<T, double>) held = cases::double_args(c);
  else held = std::make_shared<const reference::op_args<T>>(cases::case_args<T>(c));
  const bool backward = !c.cotangents.empty();
  bool missing = false;
  if (backward)
    for (const auto& o : op.outputs) missing = missing || (o.differentiable && !held->cotangents.count(o.name));
  reference::op_args<T> own;
  if (perturb != 0 || missing) {
    own = *held;
    if constexpr (std::is_same_v<T, double>)
      if (perturb != 0) perturb_double_inputs(c, own.inputs, perturb);
    if (missing) {
      const auto forward = reference::evaluate(op, own, false);
      for (const auto& o : op.outputs)
        if (o.differentiable && !own.cotangents.count(o.name) && forward.outputs.count(o.name))
          own.cotangents[o.name] = reference::tensor<T>(forward.outputs.at(o.name).shape);
    }
  }
  const reference::op_args<T>& args = perturb != 0 || missing ? own : *held;
  reference::op_result<T> res = reference::evaluate(op, args, backward);
  candidate_result r;
  put(r, "outputs", res.outputs);
  put(r, "gradients", res.gradients);
  put(r, "intermediates", res.intermediates);
  return r;
}

// Never throws: every failure becomes candidate_result::error.
template <class T> candidate_result evaluate_case_perturbed(const cases::test_case& c, double relative) {
  candidate_result r;
  const reference::op_info* op = reference::find_op(c.op);
  if (!op) {
    r.error = "unsupported op \"" + c.op + "\"";
  } else {
    try {
      // float reads the perturbed inputs' text (decimal to float directly, as the candidate would);
      // double perturbs the values it read (the same numbers, without the text).
      if (relative != 0 && !std::is_same_v<T, double>) r = evaluate_in<T>(*op, perturbed(c, relative), 0);
      else r = evaluate_in<T>(*op, c, relative);
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

template <class T> candidate_result evaluate_case(const cases::test_case& c) { return evaluate_case_perturbed<T>(c, 0); }

template <class T> builtin_candidate make(const std::string& name, const std::string& alias, const std::string& dtype) {
  builtin_candidate b;
  b.name = name;
  b.alias = alias;
  b.dtype = dtype;
  for (const auto& op : reference::op_catalogue()) b.ops.insert(op.name);
  b.evaluate = &evaluate_case<T>;
  b.evaluate_perturbed = &evaluate_case_perturbed<T>;
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
