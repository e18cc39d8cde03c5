#include "gradspec/cases/fast_golden.hpp"

#include "gradspec/cases/json_cursor.hpp"
#include "gradspec/cases/mapped_pages.hpp"
#include "gradspec/errors.hpp"

#include <fast_float/fast_float.h>

#include <algorithm>
#include <cmath>
#include <future>
#include <cstdint>
#include <map>
#include <mutex>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <set>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace gradspec::cases {

namespace {
// Every live mapping (begin -> size), for release_mapped_pages; the lock also keeps a mapping from
// being unmapped while its pages are released.
std::mutex live_mappings_mutex;
std::map<const char*, std::size_t> live_mappings;

void register_mapping(const char* data, std::size_t size) {
  std::lock_guard<std::mutex> lock(live_mappings_mutex);
  live_mappings[data] = size;
}

// The live mapping holding [p, p + n), or live_mappings.end(). Call with the lock held.
std::map<const char*, std::size_t>::const_iterator mapping_holding(const char* p, std::size_t n) {
  auto it = live_mappings.upper_bound(p);
  if (it == live_mappings.begin()) return live_mappings.end();
  --it;
  const auto begin = reinterpret_cast<std::uintptr_t>(it->first), at = reinterpret_cast<std::uintptr_t>(p);
  if (at < begin || at - begin > it->second || n > it->second - (at - begin)) return live_mappings.end();
  return it;
}

void release_pages(const char* p, std::size_t n) {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto from = (reinterpret_cast<std::uintptr_t>(p) + page - 1) / page * page;
  const auto to = (reinterpret_cast<std::uintptr_t>(p) + n) / page * page;
  if (to > from) ::madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
}
} // namespace

void release_mapped_pages(std::string_view span) {
  if (span.empty()) return;
  std::lock_guard<std::mutex> lock(live_mappings_mutex);
  if (mapping_holding(span.data(), span.size()) != live_mappings.end()) release_pages(span.data(), span.size());
}

std::shared_ptr<const mapped_file> mapped_file::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return nullptr;
  struct stat st {};
  const bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
                  static_cast<std::uint64_t>(st.st_size) <= max_input_bytes();
  void* data = ok ? ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
  ::close(fd);
  if (data == MAP_FAILED) return nullptr;
  ::madvise(data, static_cast<std::size_t>(st.st_size), MADV_SEQUENTIAL);
  std::shared_ptr<const mapped_file> out(new mapped_file(static_cast<const char*>(data), static_cast<std::size_t>(st.st_size)));
  register_mapping(static_cast<const char*>(data), static_cast<std::size_t>(st.st_size));
  return out;
}

mapped_file::~mapped_file() {
  std::lock_guard<std::mutex> lock(live_mappings_mutex);
  live_mappings.erase(data_);
  ::munmap(const_cast<char*>(data_), size_);
}

namespace {

// A value's text: a plain string (`quoted`), or a JSON number (`integer` when it has no fraction or
// exponent).
bool value_text(json_cursor& in, std::string_view& text, bool& quoted, bool& integer) {
  quoted = in.peek() == '"';
  integer = false;
  return quoted ? in.raw_string(text) : in.number(text, integer); // quoted texts must pass is_decimal_text
}

// A real value's text as real_text returns it: a decimal string, or a JSON number ("-0" as an
// integer is written back as "0" by the validating reader: left to it).
bool real_text_of(std::string_view text, bool quoted, bool integer) {
  if (quoted) return is_decimal_text(text);
  if (integer && text == "-0") return false;
  // The validating reader refuses a JSON number that overflows a double (nlohmann: "number overflow").
  double v = 0;
  fast_float::from_chars(text.data(), text.data() + text.size(), v);
  return std::isfinite(v);
}

// shape: [d, ...] with parse_tensor's limits.
bool shape_value(json_cursor& in, shape_t& shape, std::size_t& count) {
  if (!in.consume('[')) return false;
  count = 1;
  if (in.consume(']')) return true;
  do {
    std::int64_t d = 0;
    if (!in.small_unsigned(d) || d > static_cast<std::int64_t>(max_file_tensor_values)) return false;
    shape.push_back(d);
    count *= static_cast<std::size_t>(d);
    if (count > max_file_tensor_values) return false;
  } while (in.consume(','));
  return in.consume(']');
}

// A tensor {"shape": [...], "values": [...], "dtype": "real" | "int64"} (keys in any order): calls
// value(text, quoted, integer) for each value; `int64` tells the dtype.
template <class F, class R> bool tensor_value(json_cursor& in, shape_t& shape, bool& int64, F&& value, R&& reserve) {
  bool has_shape = false, has_values = false, has_dtype = false;
  std::size_t found = 0, count = 0;
  int64 = false;
  const bool ok = in.members([&](std::string_view key) {
    if (key == "shape" && !has_shape) return has_shape = true, shape_value(in, shape, count);
    if (key == "dtype" && !has_dtype) {
      std::string_view d;
      has_dtype = true;
      if (!in.plain_string(d) || (d != "real" && d != "int64")) return false;
      int64 = d == "int64";
      return true;
    }
    if (key == "values" && !has_values) {
      has_values = true;
      if (has_shape) reserve(count); // the shape first, as gen writes it: no regrowth
      if (!in.consume('[')) return false;
      if (in.consume(']')) return true;
      do {
        std::string_view text;
        bool quoted = false, integer = false;
        if (!value_text(in, text, quoted, integer)) return false;
        value(text, quoted, integer);
        ++found;
      } while (in.consume(','));
      return in.consume(']');
    }
    return false; // unknown or repeated key
  });
  return ok && has_shape && has_values && found == count;
}

// {"name": tensor, ...} into raw tensors (the strings the validating reader keeps).
bool tensor_map(json_cursor& in, std::map<std::string, raw_tensor>& out) {
  return in.members([&](std::string_view name) {
    if (out.count(std::string(name))) return false;
    raw_tensor t;
    bool all_real = true, all_int = true;
    const bool ok = tensor_value(in, t.shape, t.integer, [&](std::string_view text, bool quoted, bool integer) {
      t.values.emplace_back(text); // int64 values are converted below
      all_real = all_real && real_text_of(text, quoted, integer);
      all_int = all_int && integer && (text.size() <= 18 || (text.size() == 19 && text[0] == '-')) && text != "-0"; // in int64's range
    }, [&](std::size_t n) { t.values.reserve(n); });
    if (!ok || !(t.integer ? all_int : all_real)) return false;
    if (t.integer) {
      t.ints.reserve(t.values.size());
      for (const auto& text : t.values) t.ints.push_back(std::strtoll(text.c_str(), nullptr, 10));
      t.values.clear();
    }
    out.emplace(std::string(name), std::move(t));
    return true;
  });
}

json parsed(std::string_view text, const std::string& path) { return parse_json_text(std::string(text), path); }

std::optional<test_case> fast_case(json_cursor& in, std::size_t index, const std::string& path) {
  json small = json::object();
  std::string_view inputs, cotangents, expected; // left unparsed: parse_lazy_expected reads them
  const int depth = static_cast<int>(max_json_depth) - 3;
  const bool ok = in.members([&](std::string_view key) {
    if (key == "inputs") return inputs.empty() && in.value_span(inputs, depth);
    if (key == "cotangents") return cotangents.empty() && in.value_span(cotangents, depth);
    if (key == "expected") return expected.empty() && in.value_span(expected, depth);
    std::string_view span;
    if (small.contains(std::string(key)) || !in.value_span(span, static_cast<int>(max_json_depth) - 3)) return false;
    small[std::string(key)] = parsed(span, path);
    return true;
  });
  if (!ok || inputs.empty() || expected.empty()) return std::nullopt;
  small["inputs"] = json::object();
  test_case t = parse_case(small, index); // ids, op, params, flags, digits, exact_in, unknown keys
  t.inputs_text = inputs;
  t.cotangents_text = cotangents;
  t.expected_text = expected;
  return t;
}

} // namespace

std::optional<case_file> read_golden_file_fast(const std::string& path) {
  auto file = mapped_file::open(path);
  if (!file) return std::nullopt;
  auto read = read_golden_text_fast(file->text(), file, path);
  // Read through once: its pages leave resident memory now, not when every file of a folder has
  // been read (ten files of 10^6 values: 0.78 GB of mapped pages at once); each case's spans come
  // back from the page cache when it is parsed.
  release_mapped_pages(file->text());
  return read;
}

std::optional<case_file> read_golden_text_fast(std::string_view text, std::shared_ptr<const void> source, const std::string& path) {
  try {
    json_cursor in(text.data(), text.data() + text.size());
    case_file out;
    out.path = path;
    json header = json::object();
    bool has_cases = false;
    std::set<std::string> ids;
    const bool ok = in.members([&](std::string_view key) {
      if (key == "cases") {
        if (has_cases || !in.consume('[')) return false;
        has_cases = true;
        if (in.consume(']')) return true;
        do {
          auto c = fast_case(in, out.cases.size(), path);
          if (!c || !ids.insert(c->id).second) return false;
          c->source = source;
          out.cases.push_back(std::move(*c));
        } while (in.consume(','));
        return in.consume(']');
      }
      std::string_view span;
      if (header.contains(std::string(key)) || !in.value_span(span, static_cast<int>(max_json_depth) - 1)) return false;
      header[std::string(key)] = parsed(span, path);
      return true;
    });
    if (!ok || !in.at_end() || !has_cases || out.cases.empty()) return std::nullopt;
    if (!header.contains("format") || header["format"] != "gradspec-cases/1") return std::nullopt;
    check_header(header);
    out.header = std::move(header);
    return out;
  } catch (const std::exception&) {
    return std::nullopt; // the validating reader words the error
  }
}

bool parse_lazy_expected(test_case& c) {
  if (c.expected_text.empty()) return true;
  try {
    // The inputs and cotangents first (the shape check below reads them), as the validating reader
    // would have read them with the rest of the case.
    for (auto [span, tensors] : {std::pair{&c.inputs_text, &c.inputs}, std::pair{&c.cotangents_text, &c.cotangents}}) {
      if (span->empty()) continue;
      json_cursor in(span->data(), span->data() + span->size());
      tensors->clear();
      if (!tensor_map(in, *tensors) || !in.at_end()) return false;
      release_mapped_pages(*span); // copied into the raw tensors
    }
    json_cursor in(c.expected_text.data(), c.expected_text.data() + c.expected_text.size());
    std::vector<expected_tensor> tensors;
    std::set<std::string> groups;
    const bool ok = in.members([&](std::string_view group) {
      if (group != "outputs" && group != "gradients" && group != "intermediates") return false;
      if (!groups.insert(std::string(group)).second) return false;
      std::set<std::string> names;
      return in.members([&](std::string_view name) {
        if (!names.insert(std::string(name)).second) return false;
        expected_tensor t;
        t.group = group;
        t.name = name;
        bool int64 = false, all_real = true;
        const bool read = tensor_value(in, t.shape, int64, [&](std::string_view text, bool quoted, bool integer) {
          all_real = all_real && real_text_of(text, quoted, integer);
          t.text.push_back(text);
        }, [&](std::size_t n) { t.text.reserve(n); });
        if (!read || int64 || !all_real) return false;
        tensors.push_back(std::move(t));
        return true;
      });
    });
    if (!ok || !in.at_end()) return false;
    // The validating reader keeps the file's order within a group and the groups in the order
    // outputs, gradients, intermediates when judging.
    // The shapes against a forward pass, and the values' decimal texts to long double, on both cores.
    std::vector<expected_shape> shapes;
    for (const auto& t : tensors) shapes.push_back({t.group, t.name, t.shape, false});
    auto checked = std::async(std::launch::async, [&] {
      c.double_args_cache = double_args(c); // read once for the shape check and both baselines
      check_expected_shapes(c, shapes);
    });
    std::size_t total = 0;
    for (auto& t : tensors) {
      t.want.resize(t.text.size());
      total += t.text.size();
    }
    auto convert = [&tensors](std::size_t from, std::size_t to) { // values [from, to) counted across the tensors
      std::size_t start = 0;
      for (auto& t : tensors) {
        const std::size_t n = t.text.size();
        for (std::size_t i = std::max(from, start); i < std::min(to, start + n); ++i) t.want[i - start] = decimal_value(t.text[i - start]);
        start += n;
      }
    };
    if (total >= (1u << 16)) {
      auto half = std::async(std::launch::async, convert, total / 2, total);
      convert(0, total / 2);
      half.get();
    } else {
      convert(0, total);
    }
    checked.get(); // throws bad_input for a wrong shape
    // Converted: the texts' pages leave resident memory (the views stay valid; the few a report
    // quotes come back from the page cache).
    release_mapped_pages(c.expected_text);
    c.expected_tensors = std::move(tensors);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

} // namespace gradspec::cases

namespace gradspec::cases {

std::vector<expected_tensor> expected_from_document(const test_case& c, std::vector<raw_tensor>& storage) {
  std::vector<expected_tensor> out;
  if (!c.expected || !c.expected->is_object()) return out;
  storage.clear();
  for (const char* group : {"outputs", "gradients", "intermediates"})
    if (c.expected->contains(group) && (*c.expected)[group].is_object())
      for (auto it = (*c.expected)[group].begin(); it != (*c.expected)[group].end(); ++it)
        storage.push_back(parse_tensor(it.value(), case_path(c.index) + "/expected/" + group + "/" + it.key()));
  std::size_t k = 0;
  for (const char* group : {"outputs", "gradients", "intermediates"})
    if (c.expected->contains(group) && (*c.expected)[group].is_object())
      for (auto it = (*c.expected)[group].begin(); it != (*c.expected)[group].end(); ++it, ++k) {
        expected_tensor t;
        t.group = group;
        t.name = it.key();
        t.shape = storage[k].shape;
        t.want.reserve(storage[k].values.size());
        for (const auto& v : storage[k].values) {
          t.want.push_back(decimal_value(v));
          t.text.push_back(v);
        }
        out.push_back(std::move(t));
      }
  return out;
}

namespace {

std::string tensors_difference(const std::map<std::string, raw_tensor>& a, const std::map<std::string, raw_tensor>& b, const std::string& at) {
  if (a.size() != b.size()) return at + ": tensor count";
  for (const auto& [name, t] : a) {
    auto it = b.find(name);
    if (it == b.end()) return at + "/" + name + ": missing";
    if (t.shape != it->second.shape || t.integer != it->second.integer || t.values != it->second.values || t.ints != it->second.ints)
      return at + "/" + name + ": differs";
  }
  return "";
}

} // namespace

std::string readers_difference(const case_file& fast, const case_file& slow) {
  if (fast.header != slow.header) return "header";
  if (fast.cases.size() != slow.cases.size()) return "number of cases";
  for (std::size_t i = 0; i < fast.cases.size(); ++i) {
    const test_case &f = fast.cases[i], &s = slow.cases[i];
    const std::string at = case_path(i);
    if (f.index != s.index || f.id != s.id || f.op != s.op || f.comment != s.comment || f.flags != s.flags) return at + ": id, op, comment or flags";
    if (f.raw_params.size() != s.raw_params.size()) return at + "/params";
    for (const auto& [k, v] : f.raw_params) {
      auto it = s.raw_params.find(k);
      if (it == s.raw_params.end() || v.type != it->second.type || v.boolean != it->second.boolean || v.integer != it->second.integer ||
          v.text != it->second.text)
        return at + "/params/" + k;
    }
    if (auto d = tensors_difference(f.inputs, s.inputs, at + "/inputs"); !d.empty()) return d;
    if (auto d = tensors_difference(f.cotangents, s.cotangents, at + "/cotangents"); !d.empty()) return d;
    if (f.certified_digits != s.certified_digits || f.exact_in != s.exact_in) return at + ": certified_digits or exact_in";
    if (f.has_expected() != s.has_expected()) return at + "/expected: present in one only";
    std::vector<raw_tensor> storage;
    const auto want = expected_from_document(s, storage);
    const auto& got = f.expected_tensors;
    if (want.size() != got.size()) return at + "/expected: tensor count";
    for (const auto& w : want) {
      auto g = std::find_if(got.begin(), got.end(), [&](const expected_tensor& t) { return t.group == w.group && t.name == w.name; });
      if (g == got.end()) return at + "/expected/" + w.group + "/" + w.name + ": missing";
      if (g->shape != w.shape || g->text != w.text) return at + "/expected/" + w.group + "/" + w.name + ": differs";
      for (std::size_t k = 0; k < w.want.size(); ++k)
        if (!(g->want[k] == w.want[k] || (std::isnan(g->want[k]) && std::isnan(w.want[k]))))
          return at + "/expected/" + w.group + "/" + w.name + "/values/" + std::to_string(k) + ": value";
    }
  }
  return "";
}

} // namespace gradspec::cases
