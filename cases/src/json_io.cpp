#include "gradspec/cases/json_io.hpp"

#include "gradspec/errors.hpp"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace gradspec::cases {

namespace {

// A DOM builder for nlohmann's SAX parser that keeps the text of non-integer numbers.
class exact_sax {
public:
  json root;
  std::string error;

  bool null() { return add(nullptr); }
  bool boolean(bool b) { return add(b); }
  bool number_integer(json::number_integer_t v) { return add(v); }
  bool number_unsigned(json::number_unsigned_t v) { return add(v); }
  bool number_float(json::number_float_t, const std::string& text) { return add(std::string(1, raw_number_mark) + text); }
  bool string(std::string& s) { return add(std::move(s)); }
  bool binary(json::binary_t&) { return false; }
  bool start_object(std::size_t) { return open(json::object()); }
  bool end_object() { stack_.pop_back(); return true; }
  bool start_array(std::size_t) { return open(json::array()); }
  bool end_array() { stack_.pop_back(); return true; }
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
  std::string key_;

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
    if (top.contains(key_)) throw bad_input("", "duplicate key \"" + key_ + "\"");
    top[key_] = std::move(v);
    return &top[key_];
  }
  bool add(json v) {
    place(std::move(v));
    return true;
  }
  bool open(json v) {
    stack_.push_back(place(std::move(v)));
    return true;
  }
};

std::string display(const json& value) {
  if (is_raw_number(value)) return value.get_ref<const std::string&>().substr(1);
  std::string s = value.dump();
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

} // namespace

json parse_json_text(const std::string& text, const std::string& origin) {
  exact_sax sax;
  bool ok = false;
  try {
    ok = json::sax_parse(text, &sax);
  } catch (const bad_input& e) {
    throw bad_input("", origin + ": " + e.message());
  }
  if (!ok) throw bad_input("", origin + ": invalid JSON: " + (sax.error.empty() ? "parse error" : sax.error));
  return std::move(sax.root);
}

json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw bad_input("", path + ": cannot open file for reading");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return parse_json_text(buffer.str(), path);
}

bool is_raw_number(const json& value) {
  return value.is_string() && !value.get_ref<const std::string&>().empty() &&
         value.get_ref<const std::string&>()[0] == raw_number_mark;
}

std::string real_text(const json& value, const std::string& path) {
  if (is_raw_number(value)) return value.get_ref<const std::string&>().substr(1);
  if (value.is_number_integer()) return value.dump();
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    if (s == "inf" || s == "-inf" || s == "nan" || s == "+inf") return s;
    // A decimal string: digits, sign, point, exponent only.
    bool ok = !s.empty();
    for (char ch : s)
      if (!(std::isdigit(static_cast<unsigned char>(ch)) || ch == '-' || ch == '+' || ch == '.' || ch == 'e' || ch == 'E'))
        ok = false;
    if (ok) {
      char* end = nullptr;
      std::strtod(s.c_str(), &end);
      if (end == s.c_str() + s.size()) return s;
    }
    throw bad_input(path, "\"" + s + "\" is not a decimal number (or \"inf\", \"-inf\", \"nan\")");
  }
  throw bad_input(path, "expected a number or a decimal string, got " + display(value));
}

std::int64_t integer_value(const json& value, const std::string& path) {
  if (value.is_number_integer()) {
    if (value.is_number_unsigned() && value.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
      throw bad_input(path, "integer out of range");
    return value.get<std::int64_t>();
  }
  throw bad_input(path, "expected an integer, got " + display(value));
}

namespace {

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

void write(const json& value, std::string& out, int indent) {
  if (is_raw_number(value)) {
    out += value.get_ref<const std::string&>().substr(1);
    return;
  }
  if (is_flat_object(value) && !value.empty()) {
    out += "{";
    bool first = true;
    for (auto it = value.begin(); it != value.end(); ++it) {
      out += first ? "" : ", ";
      first = false;
      out += json(it.key()).dump() + ": ";
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
      out += json(it.key()).dump() + ": ";
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
  } else {
    out += value.dump(-1, ' ', false, json::error_handler_t::strict);
  }
}

} // namespace

std::string to_text(const json& value) {
  std::string out;
  write(value, out, 0);
  out += "\n";
  return out;
}

namespace {

// The temporary being written, for the signal handler (async-signal-safe: a fixed buffer, unlink,
// sigaction, raise).
char pending_temp[4096];
volatile std::sig_atomic_t pending = 0;
constexpr int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP};
struct sigaction previous_action[3];

extern "C" void remove_pending_temp(int signal) {
  if (pending) ::unlink(pending_temp);
  // Then the handler that was there before (the adapter layer's kills its processes), or the default.
  for (int i = 0; i < 3; ++i) {
    if (cleanup_signals[i] != signal) continue;
    const auto previous = previous_action[i].sa_handler;
    if (!(previous_action[i].sa_flags & SA_SIGINFO) && previous != SIG_DFL && previous != SIG_IGN && previous != nullptr) {
      ::sigaction(signal, &previous_action[i], nullptr);
      previous(signal);
      return;
    }
  }
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(signal, &dfl, nullptr);
  ::raise(signal); // delivered when the handler returns: the default action
}

struct pending_guard {
  explicit pending_guard(const std::string& temp) {
    // Once. A signal ignored at that point (nohup, `trap '' HUP`) stays ignored.
    static const bool installed = [] {
      for (int i = 0; i < 3; ++i) {
        if (::sigaction(cleanup_signals[i], nullptr, &previous_action[i]) != 0) continue;
        if (!(previous_action[i].sa_flags & SA_SIGINFO) && previous_action[i].sa_handler == SIG_IGN) continue;
        struct sigaction action {};
        action.sa_handler = remove_pending_temp;
        sigfillset(&action.sa_mask);
        ::sigaction(cleanup_signals[i], &action, nullptr);
      }
      return true;
    }();
    (void)installed;
    std::strncpy(pending_temp, temp.c_str(), sizeof pending_temp - 1);
    pending = 1;
  }
  ~pending_guard() { pending = 0; }
};

} // namespace

void write_file_atomically(const std::string& path, const std::string& text) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw bad_input("", path + ": folder " + dir.string() + " does not exist");
  const fs::path temp = dir / ("." + target.filename().string() + ".tmp" + std::to_string(::getpid()));
  pending_guard guard(temp.string());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw bad_input("", path + ": cannot write (creating " + temp.string() + " failed)");
    out << text;
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

} // namespace gradspec::cases
