// The built-in candidates' table: op name -> evaluation in double and in float, and the wrapper that
// turns every exception into candidate_result::error.
#include "gradspec/checkers/builtin.hpp"

#include "common.hpp"

#include <map>

namespace gradspec::checkers {

namespace {

using evaluate_fn = candidate_result (*)(const cases::test_case&);

template <class eT> const std::map<std::string, evaluate_fn>& op_table() {
  static const std::map<std::string, evaluate_fn> table = {
#define GRADSPEC_BUILTIN_ROW(op) {#op, &builtin::evaluate_##op<eT>},
      GRADSPEC_BUILTIN_OPS(GRADSPEC_BUILTIN_ROW)
#undef GRADSPEC_BUILTIN_ROW
  };
  return table;
}

template <class eT> candidate_result evaluate_case(const cases::test_case& c) {
  candidate_result r;
  const auto& table = op_table<eT>();
  auto it = table.find(c.op);
  if (it == table.end()) {
    r.error = "unsupported op \"" + c.op + "\"";
  } else {
    try {
      r = it->second(c);
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

template <class eT> builtin_candidate make(const std::string& name, const std::string& dtype) {
  builtin_candidate b;
  b.name = name;
  b.dtype = dtype;
  for (const auto& [op, fn] : op_table<eT>()) b.ops.insert(op);
  b.evaluate = &evaluate_case<eT>;
  b.version = "armadillo " + arma::arma_version::as_string();
  return b;
}

} // namespace

const std::vector<builtin_candidate>& builtin_candidates() {
  static const std::vector<builtin_candidate> all = {make<double>("armadillo-f64", "float64"), make<float>("armadillo-f32", "float32")};
  return all;
}

const builtin_candidate* find_builtin(const std::string& name) {
  for (const auto& b : builtin_candidates())
    if (b.name == name) return &b;
  return nullptr;
}

const builtin_candidate* baseline_for(const std::string& dtype) {
  if (dtype == "float64") return find_builtin("armadillo-f64");
  if (dtype == "float32" || dtype == "bfloat16" || dtype == "float16") return find_builtin("armadillo-f32");
  return nullptr;
}

} // namespace gradspec::checkers
