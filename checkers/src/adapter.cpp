#include "gradspec/checkers/adapter.hpp"

#include "gradspec/errors.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace gradspec::checkers {

using cases::json;

namespace {

// Decimal text -> JSON number text that parses back to the same value in the dtype (exact: the case
// is exact in it, so a double holds the value and %.17g round-trips it).
void append_value(std::string& out, const std::string& text) {
  if (text == "inf" || text == "+inf" || text == "-inf" || text == "nan") {
    out += "\"" + (text == "+inf" ? std::string("inf") : text) + "\"";
    return;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", std::strtod(text.c_str(), nullptr));
  out += buf;
}

void append_tensor(std::string& out, const cases::raw_tensor& t) {
  out += "{\"shape\":[";
  for (std::size_t i = 0; i < t.shape.size(); ++i) out += (i ? "," : "") + std::to_string(t.shape[i]);
  out += "],";
  if (t.integer) {
    out += "\"dtype\":\"int64\",\"values\":[";
    for (std::size_t i = 0; i < t.ints.size(); ++i) out += (i ? "," : "") + std::to_string(t.ints[i]);
  } else {
    out += "\"values\":[";
    for (std::size_t i = 0; i < t.values.size(); ++i) {
      if (i) out += ",";
      append_value(out, t.values[i]);
    }
  }
  out += "]}";
}

void append_tensors(std::string& out, const std::map<std::string, cases::raw_tensor>& tensors) {
  out += "{";
  bool first = true;
  for (const auto& [name, t] : tensors) {
    out += (first ? "" : ",") + json(name).dump() + ":";
    first = false;
    append_tensor(out, t);
  }
  out += "}";
}

json params_json(const cases::test_case& c) {
  json p = json::object();
  for (const auto& [name, v] : c.params.values) {
    using kind = reference::param_value::kind;
    switch (v.type) {
    case kind::null: p[name] = nullptr; break;
    case kind::boolean: p[name] = v.boolean; break;
    case kind::integer: p[name] = v.integer; break;
    case kind::number: p[name] = cases::raw_number(v.text); break;
    case kind::string: p[name] = v.text; break;
    }
  }
  return p;
}

} // namespace

std::string request_line(const cases::test_case& c, const std::string& dtype) {
  std::string line = "{\"id\":" + json(c.id).dump() + ",\"op\":" + json(c.op).dump() + ",\"params\":";
  std::string params = cases::to_text(params_json(c));
  // to_text pretty-prints; a request is one line.
  std::string compact;
  for (char ch : params)
    if (ch != '\n') compact += ch;
  line += compact + ",\"inputs\":";
  append_tensors(line, c.inputs);
  line += ",\"cotangents\":";
  append_tensors(line, c.cotangents);
  line += ",\"dtype\":" + json(dtype).dump() + "}";
  return line;
}

adapter_process::adapter_process(std::string command, double timeout_seconds, std::string log_path)
    : command_(std::move(command)), log_path_(std::move(log_path)), timeout_(timeout_seconds) {
  std::signal(SIGPIPE, SIG_IGN);
}

adapter_process::~adapter_process() { stop(); }

void adapter_process::stop() {
  if (to_child_ >= 0) ::close(to_child_);
  if (from_child_ >= 0) ::close(from_child_);
  to_child_ = from_child_ = -1;
  if (pid_ > 0) {
    // Give it a moment to exit on EOF, then kill its whole process group.
    for (int i = 0; i < 20; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      ::usleep(10000);
    }
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_ = -1;
  buffer_.clear();
}

std::string adapter_process::exit_reason() {
  if (pid_ <= 0) return "adapter not running";
  int status = 0;
  for (int i = 0; i < 50; ++i) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return "adapter exited with status " + std::to_string(WEXITSTATUS(status));
      if (WIFSIGNALED(status)) return "adapter crashed (signal " + std::to_string(WTERMSIG(status)) + ")";
      return "adapter stopped";
    }
    ::usleep(10000);
  }
  return "adapter closed its output";
}

bool adapter_process::read_line(std::string& line, std::string& failure) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_);
  for (;;) {
    const auto nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return true;
    }
    if (buffer_.size() > (1u << 30)) {
      failure = "response line longer than 1 GiB";
      return false;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      char msg[64];
      std::snprintf(msg, sizeof msg, "timed out after %g s", timeout_);
      failure = msg;
      return false;
    }
    pollfd p{from_child_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (r < 0 && errno != EINTR) {
      failure = std::string("poll failed: ") + std::strerror(errno);
      return false;
    }
    if (r <= 0) continue;
    char chunk[65536];
    const ssize_t n = ::read(from_child_, chunk, sizeof chunk);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    failure = exit_reason();
    return false;
  }
}

const handshake& adapter_process::start() {
  if (pid_ > 0) return handshake_;
  int in[2], out[2];
  if (::pipe(in) != 0 || ::pipe(out) != 0) throw std::runtime_error("cannot create pipes for the adapter");
  std::fflush(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("cannot start the adapter (fork failed)");
  if (pid_ == 0) {
    ::setpgid(0, 0);
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    if (!log_path_.empty()) {
      const int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (log >= 0) ::dup2(log, 2);
    }
    ::close(in[0]);
    ::close(in[1]);
    ::close(out[0]);
    ::close(out[1]);
    ::execl("/bin/sh", "sh", "-c", command_.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  to_child_ = in[1];
  from_child_ = out[0];
  if (starts_++ > 0) ++restarts_;
  std::string line, failure;
  if (!read_line(line, failure)) {
    stop();
    throw std::runtime_error("adapter `" + command_ + "` sent no handshake: " + failure);
  }
  try {
    json h = cases::parse_json_text(line, "handshake");
    if (!h.is_object() || !h.contains("adapter") || h["adapter"] != "gradspec-adapter/1")
      throw bad_input("/adapter", "expected {\"adapter\": \"gradspec-adapter/1\", ...}");
    handshake_ = {};
    if (h.contains("implementation")) { // every field type-checked: a bad one is bad input, not a crash
      const json& impl = h["implementation"];
      if (!impl.is_object()) throw bad_input("/implementation", "expected an object");
      handshake_.implementation.name = impl.contains("name") ? cases::string_value(impl["name"], "/implementation/name") : "unknown";
      handshake_.implementation.version = impl.contains("version") ? cases::string_value(impl["version"], "/implementation/version") : "";
    }
    if (h.contains("gradients")) {
      if (!h["gradients"].is_boolean()) throw bad_input("/gradients", "expected true or false");
      handshake_.gradients = h["gradients"].get<bool>();
    }
    for (const char* key : {"dtypes", "ops"}) {
      if (!h.contains(key) || !h[key].is_array()) throw bad_input(std::string("/") + key, "expected a list of strings");
      for (const auto& v : h[key])
        if (v.is_string()) (std::string(key) == "ops" ? handshake_.ops : handshake_.dtypes).insert(v.get<std::string>());
    }
  } catch (const bad_input& e) {
    stop();
    // A bad handshake is bad input from --adapter (exit 2); bad_input is a runtime_error, so a restart
    // mid-run still fails only the case.
    throw bad_input("--adapter", "`" + command_ + "` sent a bad handshake: " + e.what() + ": " + line.substr(0, 200));
  }
  return handshake_;
}

candidate_result adapter_process::ask(const std::string& id, const std::string& line) {
  candidate_result failed;
  failed.id = id;
  const std::string data = line + "\n";
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::write(to_child_, data.data() + sent, data.size() - sent);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      failed.error = "could not send the request: " + exit_reason();
      stop();
      return failed;
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string reply, failure;
  if (!read_line(reply, failure)) {
    failed.error = failure;
    stop();
    return failed;
  }
  try {
    json r = cases::parse_json_text(reply, "response");
    candidate_result result = parse_response(r, "");
    if (result.id != id) throw bad_input("/id", "answers \"" + result.id + "\", expected \"" + id + "\"");
    return result;
  } catch (const bad_input& e) {
    failed.error = "unparseable response (" + e.message() + "): " + reply.substr(0, 120);
    stop();
    return failed;
  }
}

} // namespace gradspec::checkers
