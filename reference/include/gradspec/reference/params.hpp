// Op parameters. Real parameters keep their decimal text (JSON number or string, read exactly as
// written) and are converted to the working scalar only when an op asks for them.
#pragma once

#include "gradspec/reference/scalar.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gradspec::reference {

// Sizes the reference accepts (the same as `gen --op`): at most 2^24 values in a tensor a param sizes
// (positional_encoding's length · d_model), 2^20 along any dimension, and max_layers layers. Beyond
// that is bad input, refused before anything is allocated.
inline constexpr std::int64_t max_case_values = 1 << 24;
inline constexpr std::int64_t max_dimension = 1 << 20;
inline constexpr std::int64_t max_layers = 4096; // each brings 42 weight tensors (transformer)

// What JSON gave: the kind and, for numbers, the original text.
struct param_value {
  enum class kind { null, boolean, integer, number, string };
  kind type = kind::null;
  bool boolean = false;
  std::int64_t integer = 0;
  std::string text; // number: decimal text as written; string: the string
};

enum class param_type { integer, real, boolean, choice };

struct param_spec {
  std::string name;
  param_type type;
  std::string default_value; // as JSON text: "1e-5", "false", "\"relu\"", "null"; empty = required
  std::vector<std::string> choices; // for choice
  bool nullable = false;            // null is a legal value (scale, ignore_index)
  std::string doc;
};

// Validated parameters with defaults filled in.
class param_map {
public:
  std::map<std::string, param_value> values;

  bool is_null(const std::string& name) const { return at(name).type == param_value::kind::null; }
  std::int64_t integer(const std::string& name) const { return at(name).integer; }
  bool boolean(const std::string& name) const { return at(name).boolean; }
  const std::string& choice(const std::string& name) const { return at(name).text; }
  template <class T> T real(const std::string& name) const { return parse_scalar<T>(at(name).text); }
  template <class T> std::optional<T> optional_real(const std::string& name) const {
    if (is_null(name)) return std::nullopt;
    return real<T>(name);
  }
  std::optional<std::int64_t> optional_integer(const std::string& name) const {
    if (is_null(name)) return std::nullopt;
    return integer(name);
  }
  const param_value& at(const std::string& name) const;
};

// Checks `given` against `specs` (unknown names, types, choices, ranges are bad_input with path
// "params/NAME") and fills in the defaults.
param_map validate_params(const std::vector<param_spec>& specs, const std::map<std::string, param_value>& given);

// Parses a param from command-line text "k=v": numbers, true/false, null, or a bare string.
param_value param_from_text(const std::string& text);

} // namespace gradspec::reference
