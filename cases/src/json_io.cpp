#include "gradspec/cases/json_io.hpp"
#include "gradspec/cases/signal_chain.hpp"

#include "gradspec/errors.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace gradspec::cases {

namespace {

// RFC 6901: "~" -> "~0", "/" -> "~1".
std::string pointer_segment(const std::string& key) {
  std::string out;
  for (char ch : key) out += ch == '~' ? "~0" : ch == '/' ? "~1" : std::string(1, ch);
  return out;
}

// A DOM builder for nlohmann's SAX parser that keeps the text of non-integer numbers (as raw
// numbers), refuses duplicate keys and nesting deeper than max_json_depth, and knows the JSON path of
// every value for its errors.
class exact_sax {
public:
  json root;
  std::string error;

  bool null() { return add(nullptr); }
  bool boolean(bool b) { return add(b); }
  bool number_integer(json::number_integer_t v) { return add(v); }
  bool number_unsigned(json::number_unsigned_t v) {
    // Above INT64_MAX an unsigned integer would read back negative through int64 accessors: keep
    // its text instead, as for any number that no int64 holds.
    if (v > static_cast<json::number_unsigned_t>(INT64_MAX)) return add(raw_number(std::to_string(v)));
    return add(static_cast<json::number_integer_t>(v));
  }
  bool number_float(json::number_float_t, const std::string& text) { return add(raw_number(text)); }
  bool string(std::string& s) { return add(std::move(s)); }
  bool binary(json::binary_t&) { return false; }
  bool start_object(std::size_t) { return open(json::object()); }
  bool end_object() { return close(); }
  bool start_array(std::size_t) { return open(json::array()); }
  bool end_array() { return close(); }
  bool key(std::string& k) {
    key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) {
    error = ex.what();
    // "[json.exception.parse_error.101] parse error at line 3, column 5: ..." -> "line 3, column 5: ..."
    auto at = error.find(" at line ");
    if (at != std::string::npos) error = error.substr(at + 4);
    return false;
  }

private:
  std::vector<json*> stack_;
  std::vector<std::string> segments_; // JSON path of each open container
  std::string key_;

  // The last segment of the path of the value about to be placed ("/3", "/key"), and the whole path.
  std::string next_segment() const {
    if (stack_.empty()) return "";
    const json& top = *stack_.back();
    return "/" + (top.is_array() ? std::to_string(top.size()) : pointer_segment(key_));
  }
  std::string next_path() const {
    std::string p;
    for (const auto& s : segments_) p += s;
    return p + next_segment();
  }
  json* place(json v) {
    if (stack_.empty()) {
      root = std::move(v);
      return &root;
    }
    json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();
    }
    if (top.contains(key_)) throw bad_input(next_path(), "duplicate key \"" + key_ + "\"");
    top[key_] = std::move(v);
    return &top[key_];
  }
  bool add(json v) {
    place(std::move(v));
    return true;
  }
  bool open(json v) {
    if (stack_.size() >= max_json_depth)
      throw bad_input(next_path(), "nested deeper than " + std::to_string(max_json_depth) + " levels");
    std::string segment = next_segment();
    stack_.push_back(place(std::move(v)));
    segments_.push_back(std::move(segment));
    return true;
  }
  bool close() {
    stack_.pop_back();
    if (!segments_.empty()) segments_.pop_back();
    return true;
  }
};

bool is_integer_text(const std::string& s) {
  std::size_t i = s[0] == '-' ? 1 : 0;
  if (i >= s.size()) return false;
  for (; i < s.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

} // namespace

std::uint64_t max_input_bytes() {
  static const std::uint64_t limit = [] {
    const std::uint64_t fallback = 4ull << 30;
    const char* env = std::getenv("GRADSPEC_MAX_INPUT_BYTES");
    if (!env || !*env) return fallback;
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(env, &end, 10);
    return (*end || errno || env[0] == '-' || v == 0) ? fallback : static_cast<std::uint64_t>(v);
  }();
  return limit;
}

std::string read_text_file(const std::string& path) {
  const std::uint64_t limit = max_input_bytes();
  const std::string limit_text = std::to_string(limit) + " bytes (GRADSPEC_MAX_INPUT_BYTES)";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw bad_input("", path + ": cannot open file for reading (" + std::strerror(errno) + ")");
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } guard{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw bad_input("", path + ": cannot read (" + std::strerror(errno) + ")");
  const bool regular = S_ISREG(st.st_mode), pipe = S_ISFIFO(st.st_mode);
  if (S_ISDIR(st.st_mode)) throw bad_input("", path + ": is a folder, not a file");
  if (!regular && !pipe) throw bad_input("", path + ": not a regular file (a device or socket): refusing to read it");
  if (regular && static_cast<std::uint64_t>(st.st_size) > limit)
    throw bad_input("", path + ": " + std::to_string(st.st_size) + " bytes, larger than the limit of " + limit_text);
  // Blocking reads from here on (O_NONBLOCK only kept open() from waiting for a pipe's writer).
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  std::string text;
  if (regular) text.reserve(static_cast<std::size_t>(st.st_size));
  char chunk[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw bad_input("", path + ": read failed (" + std::strerror(errno) + ")");
    if (n == 0) break;
    if (text.size() + static_cast<std::size_t>(n) > limit) throw bad_input("", path + ": larger than the limit of " + limit_text);
    text.append(chunk, static_cast<std::size_t>(n));
  }
  return text;
}

json parse_json_text(const std::string& text, const std::string& origin) {
  exact_sax sax;
  bool ok = false;
  try {
    ok = json::sax_parse(text, &sax);
  } catch (const bad_input& e) {
    throw e.in_file(origin);
  }
  if (!ok) throw bad_input("", origin + ": invalid JSON: " + (sax.error.empty() ? "parse error" : sax.error));
  return std::move(sax.root);
}

json read_json_file(const std::string& path) { return parse_json_text(read_text_file(path), path); }

json raw_text(raw_text_bytes&& text) {
  return json::binary(std::move(text), raw_text_subtype);
}

bool is_raw_text(const json& value) {
  return value.is_binary() && value.get_binary().has_subtype() && value.get_binary().subtype() == raw_text_subtype;
}

json raw_number(const std::string& text) {
  return json::binary(json::binary_t::container_type(text.begin(), text.end()), raw_number_subtype);
}

bool is_raw_number(const json& value) {
  return value.is_binary() && value.get_binary().has_subtype() && value.get_binary().subtype() == raw_number_subtype;
}

std::string raw_number_text(const json& value) {
  if (!is_raw_number(value)) return "";
  const auto& bytes = value.get_binary();
  return std::string(bytes.begin(), bytes.end());
}

std::string display(const json& value) {
  if (is_raw_number(value)) return raw_number_text(value);
  if (value.is_binary()) return "(binary)";
  std::string s = value.is_structured() ? std::string(value.is_object() ? "an object" : "an array")
                                        : value.dump(-1, ' ', false, json::error_handler_t::replace);
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

bool is_decimal_text(std::string_view s) {
  if (s == "inf" || s == "-inf" || s == "+inf" || s == "nan") return true;
  std::size_t i = 0;
  auto digits = [&] {
    const std::size_t from = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i - from;
  };
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  const std::size_t whole = digits();
  std::size_t fraction = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    fraction = digits();
  }
  if (whole + fraction == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}

std::string real_text(const json& value, const std::string& path) {
  if (is_raw_number(value)) return raw_number_text(value);
  if (value.is_number_integer()) return value.dump();
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    if (is_decimal_text(s)) return s;
    throw bad_input(path, (s.size() > 40 ? s.substr(0, 37) + "..." : s) + " is not a decimal number (or \"inf\", \"-inf\", \"nan\")");
  }
  throw bad_input(path, "expected a number or a decimal string, got " + display(value));
}

std::int64_t integer_value(const json& value, const std::string& path) {
  if (value.is_number_integer()) return value.get<std::int64_t>(); // unsigned ones above INT64_MAX are raw numbers
  if (is_raw_number(value) && is_integer_text(raw_number_text(value)))
    throw bad_input(path, "integer " + display(value) + " out of range");
  throw bad_input(path, "expected an integer, got " + display(value));
}

std::int64_t integer_in_range(const json& value, const std::string& path, std::int64_t lo, std::int64_t hi) {
  const std::int64_t v = integer_value(value, path);
  if (v < lo || v > hi) throw bad_input(path, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(v));
  return v;
}

std::string string_value(const json& value, const std::string& path) {
  if (!value.is_string()) throw bad_input(path, "expected a string, got " + display(value));
  return value.get<std::string>();
}

const json& member(const json& obj, const std::string& key, const std::string& path) {
  if (!obj.is_object()) throw bad_input(path, "expected an object");
  auto it = obj.find(key);
  if (it == obj.end()) throw bad_input(path, "missing key \"" + key + "\"");
  return *it;
}

namespace {

// JSON text of a string, escaped; invalid UTF-8 becomes U+FFFD instead of an exception.
std::string quoted(const std::string& s) { return json(s).dump(-1, ' ', false, json::error_handler_t::replace); }

bool is_scalar_array(const json& value) {
  if (!value.is_array()) return false;
  for (const auto& v : value)
    if (v.is_structured()) return false;
  return true;
}

// An object of scalars and scalar arrays (a tensor, the generator block) fits on one line.
bool is_flat_object(const json& value) {
  if (!value.is_object()) return false;
  for (const auto& v : value)
    if (v.is_object() || (v.is_array() && !is_scalar_array(v))) return false;
  return true;
}

// Text being serialized; handed to `stream` (when set) in pieces of about a megabyte, so a large
// document is never held twice.
struct sink {
  std::string text;
  std::ostream* stream = nullptr;
  sink& operator+=(const std::string& s) { return text += s, *this; }
  sink& operator+=(const char* s) { return text += s, *this; }
  sink& operator+=(char c) { return text += c, *this; }
  void append(std::size_t n, char c) { text.append(n, c); }
  void drain() {
    if (stream && text.size() >= (1u << 20)) {
      stream->write(text.data(), static_cast<std::streamsize>(text.size()));
      text.clear();
    }
  }
};

void write(const json& value, sink& out, int indent) {
  out.drain();
  if (is_raw_number(value)) {
    out += raw_number_text(value);
    return;
  }
  if (is_raw_text(value)) {
    const auto& bytes = value.get_binary();
    if (out.stream && bytes.size() >= (1u << 20)) { // straight to the file: a tensor's text is never copied
      out.stream->write(out.text.data(), static_cast<std::streamsize>(out.text.size()));
      out.text.clear();
      out.stream->write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    } else {
      out.text.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
    return;
  }
  if (is_flat_object(value) && !value.empty()) {
    out += "{";
    bool first = true;
    for (auto it = value.begin(); it != value.end(); ++it) {
      out += first ? "" : ", ";
      first = false;
      out += quoted(it.key()) + ": ";
      write(it.value(), out, indent);
    }
    out += "}";
    return;
  }
  if (value.is_object()) {
    if (value.empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    bool first = true;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!first) out += ",\n";
      first = false;
      out.append(indent + 2, ' ');
      out += quoted(it.key()) + ": ";
      write(it.value(), out, indent + 2);
    }
    out += "\n";
    out.append(indent, ' ');
    out += "}";
  } else if (value.is_array()) {
    if (is_scalar_array(value)) {
      out += "[";
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (i) out += ", ";
        write(value[i], out, indent);
      }
      out += "]";
      return;
    }
    out += "[\n";
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (i) out += ",\n";
      out.append(indent + 2, ' ');
      write(value[i], out, indent + 2);
    }
    out += "\n";
    out.append(indent, ' ');
    out += "]";
  } else if (value.is_binary()) {
    out += "null"; // never produced: only raw numbers and raw text are binary
  } else {
    out += value.dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

} // namespace

std::string to_text(const json& value) {
  sink out;
  write(value, out, 0);
  out += "\n";
  return std::move(out.text);
}

namespace {

// The temporary being written, for the signal handler (async-signal-safe: a fixed buffer, unlink,
// then pass_on).
char pending_temp[4096];
volatile std::sig_atomic_t pending = 0;
signal_chain temp_chain;

extern "C" void remove_pending_temp(int signal) {
  if (pending) ::unlink(pending_temp);
  pass_on(signal, temp_chain); // then the adapter layer's handler (kills its processes), or the default
}

struct pending_guard {
  explicit pending_guard(const std::string& temp) {
    // Once. A signal ignored at that point (nohup, `trap '' HUP`) stays ignored.
    static const bool installed = (install_chained(remove_pending_temp, temp_chain), true);
    (void)installed;
    std::strncpy(pending_temp, temp.c_str(), sizeof pending_temp - 1);
    pending = 1;
  }
  ~pending_guard() { pending = 0; }
};

} // namespace

void write_file_atomically(const std::string& path, const std::string& text) {
  write_file_atomically(path, [&](std::ostream& out) { out << text; });
}

void write_json_atomically(const std::string& path, const json& value) {
  write_file_atomically(path, [&](std::ostream& stream) {
    sink out;
    out.stream = &stream;
    write(value, out, 0);
    out += "\n";
    stream.write(out.text.data(), static_cast<std::streamsize>(out.text.size()));
  });
}

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& writer) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw bad_input("", path + ": folder " + dir.string() + " does not exist");
  // rename() would replace a link, a device node or an empty folder itself: write only over regular files.
  const auto existing = fs::symlink_status(target, ec);
  if (!ec && fs::exists(existing) && !fs::is_regular_file(existing))
    throw bad_input("", path + ": exists and is not a regular file (a link, device or folder): refusing to replace it");
  const fs::path temp = dir / ("." + target.filename().string() + ".tmp" + std::to_string(::getpid()));
  pending_guard guard(temp.string());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw bad_input("", path + ": cannot write (creating " + temp.string() + " failed)");
    try {
      writer(out);
    } catch (...) {
      out.close();
      fs::remove(temp, ec);
      throw;
    }
    out.flush();
    if (!out) {
      out.close();
      fs::remove(temp, ec);
      throw bad_input("", path + ": write failed");
    }
  }
  fs::rename(temp, target, ec);
  if (ec) {
    fs::remove(temp, ec);
    throw bad_input("", path + ": cannot rename temporary file into place");
  }
}

void refuse_overwriting_inputs(const std::string& output, const std::string& option, const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  if (output.empty()) return;
  std::error_code ec;
  for (const auto& input : inputs)
    if (fs::equivalent(output, input, ec) && !ec)
      throw bad_input(option, output + " is the input file " + input + ": refusing to overwrite it");
}

} // namespace gradspec::cases
