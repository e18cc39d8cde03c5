// read_results_fast: result files (gradspec-results/1) without a JSON document. Gives up (empty)
// on anything but the plain forms gradspec and its kits write; read_results then reads the file.
#include "gradspec/checkers/results.hpp"

#include "gradspec/cases/fast_golden.hpp"
#include "gradspec/cases/json_cursor.hpp"
#include "gradspec/cases/mapped_pages.hpp"

#include <fast_float/fast_float.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>

namespace gradspec::checkers {

namespace {

using cases::json;
using cases::json_cursor;

// A value as value_of in results.cpp reads it: a JSON number (correctly rounded), or a string
// "nan", "inf", "-inf", "+inf" or a decimal number.
bool number_value(json_cursor& in, double& out) {
  std::string_view text;
  if (in.peek() == '"') {
    if (!in.raw_string(text) || !cases::is_decimal_text(text)) return false;
    const long double v = cases::decimal_value(text); // special values; decimals below
    if (!std::isfinite(v)) {
      out = static_cast<double>(v);
      return true;
    }
    out = std::strtod(std::string(text).c_str(), nullptr);
    return true;
  }
  bool integer = false;
  if (!in.number(text, integer)) return false;
  if (integer && text == "-0") {
    out = 0; // an integer: read as int64 0
    return true;
  }
  const auto r = fast_float::from_chars(text.data(), text.data() + text.size(), out);
  if (r.ptr != text.data() + text.size() || !std::isfinite(out)) return false; // the validating reader refuses an overflow
  if (r.ec != std::errc()) out = std::strtod(std::string(text).c_str(), nullptr); // underflow: strtod's correctly rounded value
  return true;
}

bool tensor_value(json_cursor& in, candidate_tensor& t) {
  bool has_shape = false, has_values = false;
  std::size_t count = 1;
  const bool ok = in.members([&](std::string_view key) {
    if (key == "shape" && !has_shape) {
      has_shape = true;
      if (!in.consume('[')) return false;
      if (in.consume(']')) return true;
      do {
        std::int64_t d = 0;
        if (!in.small_unsigned(d) || d > static_cast<std::int64_t>(cases::max_file_tensor_values)) return false; // read_results' limits
        t.shape.push_back(d);
        count *= static_cast<std::size_t>(d);
        if (count > cases::max_file_tensor_values) return false;
      } while (in.consume(','));
      return in.consume(']');
    }
    if (key == "values" && !has_values) {
      has_values = true;
      if (has_shape && count <= (1u << 28)) t.values.reserve(count); // the shape first, as writers put it
      if (!in.consume('[')) return false;
      if (in.consume(']')) return true;
      do {
        double v = 0;
        if (!number_value(in, v)) return false;
        t.values.push_back(v);
      } while (in.consume(','));
      return in.consume(']');
    }
    return false; // other keys: the validating reader
  });
  if (has_shape && t.shape.empty()) count = 1;
  return ok && has_shape && has_values && t.values.size() == count;
}

// An answer: id, dtype, error and its tensors (read, or with `tensors` false only scanned, the
// answer's text kept in r.unparsed for parse_lazy_result).
bool response(json_cursor& in, candidate_result& r, bool tensors) {
  bool has_id = false;
  std::set<std::string> seen;
  if (in.peek() != '{') return false;
  const char* start = in.position();
  const bool ok = in.members([&](std::string_view key) {
    if (!seen.insert(std::string(key)).second) return false;
    if (key == "id") return has_id = true, in.plain_string(key) && (r.id = std::string(key), true);
    if (key == "dtype") return in.plain_string(key) && (r.dtype = std::string(key), true);
    if (key == "error") return in.plain_string(key) && (r.error = std::string(key), true);
    if (key == "outputs" || key == "gradients" || key == "intermediates") {
      if (!tensors) {
        std::string_view span;
        return in.value_span(span, static_cast<int>(cases::max_json_depth) - 3);
      }
      const std::string group(key);
      return in.members([&](std::string_view name) {
        const std::string full = group + "." + std::string(name);
        if (r.tensors.count(full)) return false;
        return tensor_value(in, r.tensors[full]);
      });
    }
    return false; // other keys: the validating reader
  });
  if (r.error) r.tensors.clear(); // an answer with an error carries no tensors
  if (!tensors) r.unparsed = std::string_view(start, static_cast<std::size_t>(in.position() - start));
  return ok && has_id;
}

} // namespace

bool parse_lazy_result(candidate_result& r) {
  if (r.unparsed.empty()) return true;
  try {
    json_cursor in(r.unparsed.data(), r.unparsed.data() + r.unparsed.size());
    candidate_result whole;
    if (!response(in, whole, true) || !in.at_end() || whole.id != r.id || whole.dtype != r.dtype || whole.error != r.error) return false;
    r.tensors = std::move(whole.tensors);
    cases::release_mapped_pages(r.unparsed); // parsed into doubles: its pages leave resident memory
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

bool parse_lazy_results(result_set& set) {
  for (auto& [id, r] : set.results)
    if (!parse_lazy_result(r)) return false;
  return true;
}

std::optional<result_set> read_results_fast(const std::string& path) {
  auto file = cases::mapped_file::open(path);
  if (!file) return std::nullopt;
  auto set = read_results_text_fast(file->text(), path);
  if (set) set->source = file;
  return set;
}

std::optional<result_set> read_results_text_fast(std::string_view text, const std::string& path) {
  try {
    json_cursor in(text.data(), text.data() + text.size());
    result_set set;
    json header = json::object();
    bool has_results = false;
    const bool ok = in.members([&](std::string_view key) {
      if (key == "results") {
        if (has_results || !in.consume('[')) return false;
        has_results = true;
        if (in.consume(']')) return true;
        std::size_t i = 0;
        do {
          candidate_result r;
          if (!response(in, r, false) || set.results.count(r.id)) return false;
          cases::release_mapped_pages(r.unparsed); // scanned: back from the page cache when parsed
          set.where[r.id] = path + ": /results/" + std::to_string(i) + "/id";
          set.results[r.id] = std::move(r);
          ++i;
        } while (in.consume(','));
        return in.consume(']');
      }
      std::string_view span;
      if (header.contains(std::string(key)) || !in.value_span(span, static_cast<int>(cases::max_json_depth) - 1)) return false;
      header[std::string(key)] = cases::parse_json_text(std::string(span), path);
      return true;
    });
    if (!ok || !in.at_end() || !has_results || !header.contains("format") || header["format"] != "gradspec-results/1" ||
        header.contains("adapter")) // a first line with "adapter" makes read_results take response lines
      return std::nullopt;
    read_result_header(set, header);
    return set;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

} // namespace gradspec::checkers
