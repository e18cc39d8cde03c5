#include "gradspec/cases/generate.hpp"

#include "gradspec/cases/exactness.hpp"
#include "gradspec/cases/suites.hpp"
#include "gradspec/errors.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <mpfr.h>
#include <malloc.h>
#include <stdexcept>

namespace gradspec::cases {

using reference::mp_real;
using reference::op_result;

std::uint64_t fnv1a(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char ch : text) {
    h ^= ch;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

raw_tensor generated_cotangent(const std::string& case_id, const std::string& name, const shape_t& shape) {
  raw_tensor t;
  t.shape = shape;
  const std::size_t n = reference::numel(shape);
  if (shape.empty()) {
    t.values = {"1"};
    return t;
  }
  std::uint64_t state = fnv1a(case_id + "/cotangents/" + name);
  t.values.reserve(n); // grown by doubling, the copies left holes in the heap as large as the tensor
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t k = static_cast<std::int64_t>(splitmix64(state) % 128) - 64; // [-64, 63]
    const std::int64_t nz = k >= 0 ? k + 1 : k;                                       // [-64, -1] ∪ [1, 64]
    t.values.push_back(reference::format_scalar(static_cast<double>(nz) / 64.0, 17));
  }
  return t;
}

namespace {

struct compared_tensor {
  std::string group, name; // "outputs", "y"
  reference::tensor<mp_real> value;
  std::vector<bool> flushed; // below the noise floor in both evaluations: written as 0
};

// The first evaluation's values, packed while the second one runs: each value's significand limbs
// side by side in one array, its exponent and kind apart (MPFR's custom interface), and the
// precision once when the values share it (they do, unless an op mixes precisions): about half the
// memory of MPFR numbers allocated one by one. Only read back (into a reused number) to be
// compared, with the value and precision it had.
struct packed_tensor {
  std::size_t limbs = 0; // per value: the largest any value needs
  std::vector<mp_limb_t> significands;
  mpfr_prec_t precision = 0;          // every value's, when they share one
  std::vector<mpfr_prec_t> precisions; // per value otherwise (empty when shared)
  std::vector<std::int32_t> exponents; // within MPFR's exponent range, which fits (checked)
  std::vector<signed char> kinds;

  explicit packed_tensor(const reference::tensor<mp_real>& t) {
    if (mpfr_get_emax() > std::numeric_limits<std::int32_t>::max() || mpfr_get_emin() < std::numeric_limits<std::int32_t>::min())
      throw std::logic_error("packed_tensor: MPFR's exponent range was widened beyond 32 bits");
    bool shared = true;
    for (const auto& v : t.data) {
      const mpfr_prec_t p = mpfr_get_prec(v.backend().data());
      limbs = std::max(limbs, mpfr_custom_get_size(p) / sizeof(mp_limb_t));
      if (precision == 0) precision = p;
      shared = shared && p == precision;
    }
    significands.resize(limbs * t.size());
    if (!shared) precisions.resize(t.size());
    exponents.resize(t.size());
    kinds.resize(t.size());
    for (std::size_t i = 0; i < t.size(); ++i) {
      mpfr_srcptr x = t.data[i].backend().data();
      const mpfr_prec_t p = mpfr_get_prec(x);
      if (!shared) precisions[i] = p;
      kinds[i] = static_cast<signed char>(mpfr_custom_get_kind(x));
      exponents[i] = mpfr_regular_p(x) ? static_cast<std::int32_t>(mpfr_custom_get_exp(x)) : 0;
      std::copy_n(static_cast<const mp_limb_t*>(mpfr_custom_get_significand(x)), mpfr_custom_get_size(p) / sizeof(mp_limb_t),
                  significands.begin() + static_cast<std::ptrdiff_t>(i * limbs));
    }
  }
  std::size_t size() const { return kinds.size(); }
  // Value i into `out` (its precision and value as evaluated).
  void get(std::size_t i, mp_real& out) const {
    const mpfr_prec_t p = precisions.empty() ? precision : precisions[i];
    mpfr_t view;
    mpfr_custom_init_set(view, kinds[i], exponents[i], p, const_cast<mp_limb_t*>(&significands[i * limbs]));
    mpfr_set_prec(out.backend().data(), p);
    mpfr_set(out.backend().data(), view, MPFR_RNDN); // exact: the same precision
  }
};

// Agreement of two evaluations of one tensor, in significant digits (1e9 = identical): -log10 of
// the largest relative difference, one logarithm per tensor (log10 is monotonic, so this is the
// minimum of the per-element digits).
double agreement(const packed_tensor& lo, const reference::tensor<mp_real>& hi, unsigned lo_bits, std::vector<bool>& flushed) {
  mp_real scale = 0;
  for (const auto& v : hi.data)
    if (reference::is_finite(v) && mpfr_cmpabs(v.backend().data(), scale.backend().data()) > 0) scale = abs(v);
  // Values that are zero in exact arithmetic come out as rounding noise ~ scale·2^-bits; anything
  // below scale·2^-(3/4·bits) in both evaluations is noise, not a digit of the answer.
  const mp_real floor = scale * ldexp(mp_real(1), -static_cast<int>(3 * lo_bits / 4));
  bool disagree = false; // NaN against a number, or different infinities
  // rel = |a - b| / |b| in numbers made once at the working precision (as the temporaries of the
  // expression were): no allocation per value.
  mp_real worst = 0, rel, difference, a;
  flushed.assign(hi.size(), false);
  for (std::size_t i = 0; i < hi.size(); ++i) {
    lo.get(i, a);
    const mp_real& b = hi.data[i];
    if (reference::is_nan(a) || reference::is_nan(b)) {
      if (!(reference::is_nan(a) && reference::is_nan(b))) disagree = true;
      continue;
    }
    if (reference::is_inf(a) || reference::is_inf(b)) {
      if (a != b) disagree = true;
      continue;
    }
    if (a == b) continue;
    if (mpfr_cmpabs(a.backend().data(), floor.backend().data()) < 0 && mpfr_cmpabs(b.backend().data(), floor.backend().data()) < 0) {
      flushed[i] = true;
      continue;
    }
    mpfr_sub(difference.backend().data(), a.backend().data(), b.backend().data(), MPFR_RNDN);
    mpfr_div(rel.backend().data(), difference.backend().data(), b.backend().data(), MPFR_RNDN);
    mpfr_abs(rel.backend().data(), rel.backend().data(), MPFR_RNDN); // RNDN is symmetric: |x|/|y| rounds the same
    if (mpfr_cmp(rel.backend().data(), worst.backend().data()) > 0) mpfr_set(worst.backend().data(), rel.backend().data(), MPFR_RNDN);
  }
  if (disagree) return 0;
  return worst == 0 ? 1e9 : std::min(1e9, -reference::to_double(log10(worst)));
}

std::vector<compared_tensor> ordered_tensors(const reference::op_info& op, const reference::param_map& params,
                                             op_result<mp_real>& hi) {
  std::vector<compared_tensor> out;
  for (const auto& o : op.outputs)
    if (hi.outputs.count(o.name)) out.push_back({"outputs", o.name, std::move(hi.outputs[o.name]), {}});
  for (const auto& in : op.inputs(params))
    if (hi.gradients.count(in.name)) out.push_back({"gradients", in.name, std::move(hi.gradients[in.name]), {}});
  for (const auto& i : op.intermediates)
    if (hi.intermediates.count(i.name)) out.push_back({"intermediates", i.name, std::move(hi.intermediates[i.name]), {}});
  return out;
}

// The first evaluation's tensors, packed, by "group.name"; each tensor's MPFR numbers are freed once
// it is packed, so the two forms of the results are never all in memory together. Intermediates
// only when they are written (only written tensors are compared): attention's scores and weights
// are most of a large layer's values (GPT-2 small: 2.5·10^7, a GB packed).
std::map<std::string, packed_tensor> packed_results(op_result<mp_real>&& r, bool intermediates) {
  std::map<std::string, packed_tensor> out;
  if (!intermediates) r.intermediates.clear();
  for (const auto& [group, m] : {std::pair{"outputs", &r.outputs}, std::pair{"gradients", &r.gradients}, std::pair{"intermediates", &r.intermediates}})
    for (auto& [name, t] : *m) {
      out.emplace(std::string(group) + "." + name, packed_tensor(t));
      t = {};
    }
  return out;
}

// Text being built for a raw_text value, in the container the document keeps (moved in, not
// copied: at 10^7 values the copy was the peak of gen's memory).
using text_bytes = raw_text_bytes;

void append_text(text_bytes& out, std::string_view v) { out.insert(out.end(), v.begin(), v.end()); }

bool all_minus_inf_row(const reference::tensor<mp_real>& t) {
  for (std::size_t r = 0; r < t.rows(); ++r) {
    bool all = t.cols() > 0;
    for (std::size_t j = 0; j < t.cols() && all; ++j) all = reference::is_inf(t.row(r)[j]) && t.row(r)[j] < 0;
    if (all) return true;
  }
  return false;
}

// A fully masked softmax row, from the roles the registry gives the op's tensors: a row of all -inf
// in softmax logits (an input, or an intermediate the evaluation reports, such as attention's
// scores), or an additive mask that hides every visible entry of a row (visible, when the op has a
// boolean param `causal` that is true: row r of R sits at position p = C - R + r of the C columns and
// sees j <= p, and j > p - W when an integer param `window` = W is set).
bool masked_by_intermediates(const reference::op_info& op, const std::vector<compared_tensor>& tensors) {
  using reference::tensor_role;
  for (const auto& i : op.intermediates)
    if (i.role == tensor_role::softmax_logits)
      for (const auto& t : tensors)
        if (t.group == "intermediates" && t.name == i.name && all_minus_inf_row(t.value)) return true;
  return false;
}

bool masked_by_inputs(const reference::op_info& op, const test_case& c) {
  using reference::tensor_role;
  using kind = reference::param_value::kind;
  const bool causal = c.params.values.count("causal") && c.params.at("causal").type == kind::boolean && c.params.boolean("causal");
  const bool windowed = causal && c.params.values.count("window") && c.params.at("window").type == kind::integer;
  for (const auto& spec : op.inputs(c.params)) {
    if (!c.inputs.count(spec.name)) continue;
    if (spec.role == tensor_role::softmax_logits && all_minus_inf_row(to_tensor<mp_real>(c.inputs.at(spec.name)))) return true;
    if (spec.role == tensor_role::additive_mask) {
      const auto mask = to_tensor<mp_real>(c.inputs.at(spec.name));
      const auto rows = static_cast<std::int64_t>(mask.rows()), cols = static_cast<std::int64_t>(mask.cols());
      for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t p = cols - rows + r;
        bool all = true;
        for (std::int64_t j = 0; j < cols; ++j) {
          if (causal && (j > p || (windowed && j <= p - c.params.integer("window")))) continue; // hidden anyway
          all = all && reference::is_inf(mask.row(r)[j]) && mask.row(r)[j] < 0;
        }
        if (all) return true;
      }
    }
  }
  return false;
}

// A values array as JSON text, ["-1.375", "0.5", ...], each value quoted as tensor_json quotes it.
void append_quoted(text_bytes& out, const std::string& v) {
  bool plain = true;
  for (char ch : v) plain = plain && ch != '"' && ch != '\\' && static_cast<unsigned char>(ch) >= 0x20 && static_cast<unsigned char>(ch) < 0x80;
  if (plain) {
    out.push_back('"');
    append_text(out, v);
    out.push_back('"');
  } else {
    append_text(out, json(v).dump(-1, ' ', false, json::error_handler_t::replace));
  }
}

json tensor_json_text(const raw_tensor& t) {
  if (t.integer) return tensor_json(t);
  std::size_t length = 2;
  for (const auto& v : t.values) length += v.size() + 4; // quotes and ", ": exact for plain texts
  text_bytes text;
  text.reserve(length);
  text.push_back('[');
  for (std::size_t i = 0; i < t.values.size(); ++i) {
    if (i) append_text(text, ", ");
    append_quoted(text, t.values[i]);
  }
  text.push_back(']');
  json j;
  j["shape"] = t.shape;
  j["values"] = raw_text(std::move(text));
  return j;
}

json param_json(const reference::param_value& v) {
  using kind = reference::param_value::kind;
  switch (v.type) {
  case kind::null: return nullptr;
  case kind::boolean: return v.boolean;
  case kind::integer: return v.integer;
  case kind::number: return raw_number(v.text);
  case kind::string: return v.text;
  }
  return nullptr;
}

} // namespace

void complete_cotangents(test_case& c) {
  const reference::op_info& op = *reference::find_op(c.op);
  bool missing = false;
  for (const auto& o : op.outputs)
    if (o.differentiable && !c.cotangents.count(o.name)) missing = true;
  if (!missing) return;
  auto shapes = reference::evaluate(op, case_args<double>(c), false);
  for (const auto& o : op.outputs)
    if (o.differentiable && !c.cotangents.count(o.name) && shapes.outputs.count(o.name))
      c.cotangents[o.name] = generated_cotangent(c.id, o.name, shapes.outputs.at(o.name).shape);
}

json generate_case(test_case c, const generation_options& options) {
  const reference::op_info& op = *reference::find_op(c.op);
  const std::string path = case_path(c.index);
  try {
    complete_cotangents(c);
    // Everything read from the inputs' texts first: they are let go before the second evaluation.
    // The contract: a case with a softmax row whose every entry is -inf carries fully_masked_row,
    // from the inputs (logits, additive masks) or the intermediates (attention's scores; decided
    // even when they are not written, so the flag does not depend on --no-intermediates).
    const bool masked_inputs = masked_by_inputs(op, c);
    json inputs = json::object();
    for (const auto& in : op.inputs(c.params))
      if (c.inputs.count(in.name)) inputs[in.name] = options.text_values ? tensor_json_text(c.inputs.at(in.name)) : tensor_json(c.inputs.at(in.name));
    json cotangents = json::object();
    for (const auto& o : op.outputs)
      if (c.cotangents.count(o.name))
        cotangents[o.name] = options.text_values ? tensor_json_text(c.cotangents.at(o.name)) : tensor_json(c.cotangents.at(o.name));
    json exact = json::array();
    unsigned mask = all_dtypes_mask; // the dtypes holding every input and cotangent exactly
    for (const auto* group : {&c.inputs, &c.cotangents})
      for (const auto& [name, t] : *group)
        for (std::size_t i = 0; i < t.values.size() && mask != 0; ++i) mask &= exact_dtype_mask(t.values[i]);
    for (std::size_t k = 0; k < dtype_names().size(); ++k)
      if (mask & (1u << k)) exact.push_back(dtype_names()[k]);

    const unsigned saved = reference::precision_bits();
    const unsigned lo_bits = reference::set_precision_bits(options.bits);
    // The first evaluation, packed (half its memory) for the comparison with the second; its
    // arguments are freed before the results are packed.
    op_result<mp_real> lo_result;
    {
      const auto args = case_args<mp_real>(c);
      lo_result = reference::evaluate(op, args, true);
    }
    const auto lo = packed_results(std::move(lo_result), options.intermediates);
    reference::set_precision_bits(options.check_bits ? options.check_bits : options.bits + 64);
    op_result<mp_real> hi;
    {
      const auto args = case_args<mp_real>(c);
      c.inputs.clear(); // read at both precisions: their texts are not needed any more
      c.cotangents.clear();
      hi = reference::evaluate(op, args, true);
    }
    // The arguments' numbers are freed, but they leave holes in the heap that the expected values'
    // texts (one block per tensor) do not fit: give the free pages back now, or the texts push the
    // peak up by a tensor's text (softmax 10000x500: 3.02 -> 2.78 GB).
    malloc_trim(0);
    reference::set_precision_bits(saved);

    auto tensors = ordered_tensors(op, c.params, hi);
    std::vector<std::string> flags = c.flags;
    if ((masked_inputs || masked_by_intermediates(op, tensors)) && std::find(flags.begin(), flags.end(), "fully_masked_row") == flags.end())
      flags.push_back("fully_masked_row");
    // Left out, intermediates are not certified either: certified_digits covers what is written.
    if (!options.intermediates)
      std::erase_if(tensors, [](const compared_tensor& t) { return t.group == "intermediates"; });

    double digits = 1e9;
    for (auto& t : tensors) digits = std::min(digits, agreement(lo.at(t.group + "." + t.name), t.value, lo_bits, t.flushed));
    const int certified = static_cast<int>(std::min<double>(options.max_digits, std::floor(digits)));
    if (certified < 1)
      throw std::runtime_error(path + " (" + c.id + "): the evaluations at " + std::to_string(options.bits) +
                               " and more bits do not agree on one digit; raise --bits");

    json out;
    out["id"] = c.id;
    out["op"] = c.op;
    if (!c.comment.empty()) out["comment"] = c.comment;
    if (!flags.empty()) out["flags"] = flags;
    json params = json::object();
    for (const auto& spec : op.params) params[spec.name] = param_json(c.params.at(spec.name));
    out["params"] = params;
    out["inputs"] = std::move(inputs);
    out["cotangents"] = std::move(cotangents);
    json expected = {{"outputs", json::object()}, {"gradients", json::object()}, {"intermediates", json::object()}};
    for (auto& t : tensors) {
      if (options.text_values) {
        // Reserved once: no value is longer than its digits plus sign, point, "0.000" or an
        // exponent (16 covers MPFR's), and 4 for quotes and ", ". Pages never written stay virtual.
        text_bytes text;
        text.reserve(2 + t.value.size() * (static_cast<std::size_t>(certified) + 20));
        text.push_back('[');
        for (std::size_t i = 0; i < t.value.size(); ++i) {
          if (i) append_text(text, ", ");
          append_quoted(text, t.flushed[i] ? "0" : reference::format_scalar(t.value.data[i], certified));
        }
        text.push_back(']');
        expected[t.group][t.name] = {{"shape", t.value.shape}, {"values", raw_text(std::move(text))}};
      } else {
        raw_tensor r;
        r.shape = t.value.shape;
        for (std::size_t i = 0; i < t.value.size(); ++i)
          r.values.push_back(t.flushed[i] ? "0" : reference::format_scalar(t.value.data[i], certified));
        expected[t.group][t.name] = tensor_json(r);
      }
      t.value = {}; // written: free its MPFR values before the next tensor's text grows
    }
    if (expected["intermediates"].empty()) expected.erase("intermediates");
    out["expected"] = std::move(expected); // moved: a copy held every expected text twice
    out["certified_digits"] = certified;
    out["exact_in"] = exact;
    return out;
  } catch (const bad_input& e) {
    throw e.under(path);
  }
}

json generate_file(case_file file, const generation_options& options) {
  json cases = json::array();
  for (auto& c : file.cases) {
    try {
      cases.push_back(generate_case(std::move(c), options));
    } catch (const bad_input& e) {
      throw e.in_file(file.path);
    }
    if (options.on_case_done) options.on_case_done();
  }
  // Every flag the cases carry is explained in the file's notes.
  json notes = file.header.contains("notes") ? file.header["notes"] : json::object();
  for (const auto& c : cases)
    for (const auto& f : c.value("flags", json::array()))
      if (!notes.contains(f.get<std::string>()) && flag_notes().contains(f.get<std::string>()))
        notes[f.get<std::string>()] = flag_notes()[f.get<std::string>()];

  const unsigned saved = reference::precision_bits();
  const unsigned bits = reference::set_precision_bits(options.bits);
  const unsigned check_bits = reference::set_precision_bits(options.check_bits ? options.check_bits : options.bits + 64);
  reference::set_precision_bits(saved);
  json out;
  out["format"] = "gradspec-cases/1";
  out["generator"] = {{"name", "gradspec"}, {"version", generator_version}, {"precision_bits", bits}, {"check_precision_bits", check_bits}};
  if (!options.intermediates) out["generator"]["intermediates"] = false; // absent (the default) means written
  if (!notes.empty()) out["notes"] = notes;
  for (auto it = file.header.begin(); it != file.header.end(); ++it)
    if (it.key() != "format" && it.key() != "generator" && it.key() != "notes") out[it.key()] = it.value();
  out["cases"] = std::move(cases);
  return out;
}

namespace {

// First difference between two JSON values, as "path: file has A, re-derived B".
void compare(const json& written, const json& derived, const std::string& path, std::vector<std::string>& out) {
  auto text = [](const json& v) {
    return is_raw_number(v) ? raw_number_text(v) : v.dump(-1, ' ', false, json::error_handler_t::replace);
  };
  if (written.is_object() && derived.is_object()) {
    for (auto it = derived.begin(); it != derived.end(); ++it) {
      if (!written.contains(it.key())) out.push_back(path + "/" + it.key() + ": missing from the file");
      else compare(written[it.key()], it.value(), path + "/" + it.key(), out);
    }
    for (auto it = written.begin(); it != written.end(); ++it)
      if (!derived.contains(it.key())) out.push_back(path + "/" + it.key() + ": not produced by the reference");
    return;
  }
  if (written.is_array() && derived.is_array() && written.size() == derived.size()) {
    for (std::size_t i = 0; i < written.size() && out.size() < 1000; ++i) compare(written[i], derived[i], path + "/" + std::to_string(i), out);
    return;
  }
  if (text(written) != text(derived)) out.push_back(path + ": file has " + text(written) + ", re-derived " + text(derived));
}

} // namespace

std::vector<std::string> verify_file(const case_file& file) {
  std::vector<std::string> problems;
  generation_options options;
  const json& generator = file.header.contains("generator") ? file.header["generator"] : json();
  if (!generator.is_object() || !generator.contains("precision_bits") || !generator["precision_bits"].is_number_integer())
    throw bad_input(file.path + ": /generator/precision_bits", "missing: not a golden file written by gradspec gen");
  options.bits = generator["precision_bits"].get<unsigned>();
  if (generator.contains("check_precision_bits") && generator["check_precision_bits"].is_number_integer())
    options.check_bits = generator["check_precision_bits"].get<unsigned>();
  if (generator.contains("intermediates") && generator["intermediates"].is_boolean())
    options.intermediates = generator["intermediates"].get<bool>();
  for (const auto& c : file.cases) {
    const std::string path = case_path(c.index);
    if (!c.expected) {
      problems.push_back(path + ": no \"expected\" (a spec, not a golden file)");
      continue;
    }
    json derived;
    try {
      derived = generate_case(c, options);
    } catch (const bad_input& e) {
      throw e.in_file(file.path);
    }
    compare(*c.expected, derived["expected"], path + "/expected", problems);
    if (!c.certified_digits || *c.certified_digits != derived["certified_digits"].get<int>())
      problems.push_back(path + "/certified_digits: file has " + (c.certified_digits ? std::to_string(*c.certified_digits) : "none") +
                         ", re-derived " + derived["certified_digits"].dump());
    if (!c.exact_in || json(*c.exact_in) != derived["exact_in"])
      problems.push_back(path + "/exact_in: file has " + (c.exact_in ? json(*c.exact_in).dump() : "none") + ", re-derived " +
                         derived["exact_in"].dump());
  }
  return problems;
}

} // namespace gradspec::cases
