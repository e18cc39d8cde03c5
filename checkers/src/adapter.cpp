#include "gradspec/checkers/adapter.hpp"
#include "gradspec/cases/signal_chain.hpp"

#include "gradspec/errors.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <limits>
#include <poll.h>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

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


namespace {

constexpr std::size_t reply_base_limit = std::size_t(64) << 20;
constexpr std::size_t bytes_per_value = 64;

std::size_t values_in(const json& doc) {
  // Leaves of the expected block; iterative, since a case file's nesting is not bounded.
  std::size_t n = 0;
  std::vector<const json*> todo{&doc};
  while (!todo.empty()) {
    const json* v = todo.back();
    todo.pop_back();
    if (v->is_structured())
      for (const auto& child : *v) todo.push_back(&child);
    else
      ++n;
  }
  return n;
}

std::size_t saturating_limit(std::size_t values) {
  const std::size_t cap = std::numeric_limits<std::size_t>::max() / 2;
  return values > (cap - reply_base_limit) / bytes_per_value ? cap : reply_base_limit + bytes_per_value * values;
}

// ---- Fatal signals while adapters run -------------------------------------------------------
// The process groups of the running adapters, for the handler (lock-free atomics only).
constexpr int max_groups = 64;
std::atomic<pid_t> live_groups[max_groups];
using cases::termination_signals;
cases::signal_chain adapter_chain;

void sleep_ms(long ms) {
  timespec t{ms / 1000, (ms % 1000) * 1000000L};
  ::nanosleep(&t, nullptr);
}

// SIGTERM to every live group, up to 300 ms for their leaders to exit, then SIGKILL; reaps the
// leaders (our children). Async-signal-safe: kill, waitpid, nanosleep.
void kill_live_groups() {
  bool reaped[max_groups] = {};
  for (auto& g : live_groups)
    if (const pid_t pgid = g.load(); pgid > 0) ::kill(-pgid, SIGTERM);
  for (int round = 0; round < 30; ++round) {
    bool all = true;
    for (int i = 0; i < max_groups; ++i) {
      const pid_t pgid = live_groups[i].load();
      if (pgid <= 0 || reaped[i]) continue;
      if (::waitpid(pgid, nullptr, WNOHANG) != 0) reaped[i] = true;
      else all = false;
    }
    if (all) break;
    sleep_ms(10);
  }
  for (int i = 0; i < max_groups; ++i) {
    const pid_t pgid = live_groups[i].load();
    if (pgid <= 0) continue;
    ::kill(-pgid, SIGKILL);
    if (!reaped[i]) ::waitpid(pgid, nullptr, 0);
    live_groups[i].store(0);
  }
}

extern "C" void on_fatal_signal(int signal) {
  kill_live_groups();
  cases::pass_on(signal, adapter_chain); // then json_io's handler (removes its temporary), or the default
}

// Once, when the first adapter starts. A signal ignored at that point (nohup) stays ignored.
void install_fatal_signal_handlers() {
  static const bool done = (cases::install_chained(on_fatal_signal, adapter_chain), true);
  (void)done;
}

void register_group(pid_t pgid) {
  for (auto& g : live_groups) {
    pid_t expected = 0;
    if (g.compare_exchange_strong(expected, pgid)) return;
  }
}

void unregister_group(pid_t pgid) {
  for (auto& g : live_groups) {
    pid_t expected = pgid;
    if (g.compare_exchange_strong(expected, 0)) return;
  }
}

// "SIGSEGV, Segmentation fault" for 11.
std::string signal_name(int signal) {
  static const std::pair<int, const char*> names[] = {
      {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},   {SIGTRAP, "SIGTRAP"},
      {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},   {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"},
      {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"}, {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},
      {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"}, {SIGSYS, "SIGSYS"}};
  std::string name = "signal " + std::to_string(signal);
  for (const auto& [number, text] : names)
    if (number == signal) name = text;
  const char* description = ::strsignal(signal);
  return description ? name + ", " + description : name;
}

std::string status_text(int status) {
  if (WIFSIGNALED(status)) {
    const int s = WTERMSIG(status);
    return "adapter killed by signal " + std::to_string(s) + " (" + signal_name(s) + ")";
  }
  if (WIFEXITED(status)) {
    const int code = WEXITSTATUS(status);
    std::string text = "adapter exited with status " + std::to_string(code);
    // /bin/sh reports a command killed by signal N as 128 + N when it did not exec it.
    if (code > 128 && code - 128 < NSIG) text += ": killed by signal " + std::to_string(code - 128) + " (" + signal_name(code - 128) + ")";
    if (code == 127) text += " (command not found?)";
    return text;
  }
  return "adapter stopped";
}

std::string seconds_text(double s) {
  char msg[64];
  std::snprintf(msg, sizeof msg, "%g s", s);
  return msg;
}

// `exec COMMAND` when COMMAND is one simple command (words and quotes only, no operator,
// redirection, expansion or leading assignment): the shell is replaced by the adapter, so its exit
// status is the adapter's own (a segfault is WIFSIGNALED, not sh's 139) and no `sh` is left waiting.
// Anything else (`cd x && python3 y`) runs as written.
std::string shell_command(const std::string& command) {
  const auto first = command.find_first_not_of(' ');
  if (first == std::string::npos) return command;
  if (command.find_first_of(";&|<>()$`\\*?[]#~{}!\n\r\t") != std::string::npos) return command;
  const std::string first_word = command.substr(first, command.find(' ', first) - first);
  if (first_word.find_first_of("='\"") != std::string::npos) return command;
  return "exec " + command;
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

} // namespace

std::size_t reply_limit(const cases::test_case& c) {
  std::size_t values = 0;
  for (const auto* tensors : {&c.inputs, &c.cotangents})
    for (const auto& [name, t] : *tensors) values += t.integer ? t.ints.size() : t.values.size();
  if (c.expected) values += values_in(*c.expected);
  return saturating_limit(values);
}

std::size_t reply_limit_for_request(const std::string& line) { return saturating_limit(line.size()); }

adapter_process::adapter_process(std::string command, double timeout_seconds, std::string log_path)
    : command_(std::move(command)), log_path_(std::move(log_path)),
      timeout_(std::isfinite(timeout_seconds) && timeout_seconds > 0 ? std::min(timeout_seconds, max_timeout_seconds) : max_timeout_seconds) {
  // A dead adapter shows up as EPIPE on write, not as a signal that kills gradspec.
  std::signal(SIGPIPE, SIG_IGN);
}

adapter_process::~adapter_process() { stop_group(true); }

void adapter_process::stop_group(bool wait_for_eof_exit) {
  if (to_child_ >= 0) ::close(to_child_);
  if (from_child_ >= 0) ::close(from_child_);
  to_child_ = from_child_ = -1;
  buffer_.clear();
  scanned_ = 0;
  if (pid_ <= 0) return;
  const pid_t pgid = pid_;
  bool reaped = leader_reaped_;
  auto reap = [&] {
    if (!reaped && ::waitpid(pgid, nullptr, WNOHANG) != 0) reaped = true;
    return reaped;
  };
  // At the end of a run: stdin is closed, a well-behaved adapter exits by itself (up to 2 s).
  if (wait_for_eof_exit)
    for (int i = 0; i < 200 && !reap(); ++i) sleep_ms(10);
  // Then the whole group (children the adapter left behind too): SIGTERM, up to 1 s for the leader
  // to exit and the group to empty, then SIGKILL.
  ::kill(-pgid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (reap() && ::kill(-pgid, 0) != 0) break;
    sleep_ms(10);
  }
  ::kill(-pgid, SIGKILL);
  if (!reaped) ::waitpid(pgid, nullptr, 0);
  unregister_group(pgid);
  pid_ = -1;
  leader_reaped_ = false;
}

std::string adapter_process::exit_reason() {
  if (pid_ <= 0 || leader_reaped_) return "adapter not running";
  // It closed its output or its input: it is usually exiting; up to 500 ms for the status.
  for (int i = 0; i < 50; ++i) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      // Reaped: the group id stays valid while its other members live; stop_group kills them.
      leader_reaped_ = true;
      return status_text(status);
    }
    sleep_ms(10);
  }
  return "adapter closed its output";
}

bool adapter_process::take_line(std::string& line, std::size_t max_line, std::string& failure) {
  const char* what = handshake_pending_ ? "handshake line" : "reply";
  // Only the bytes not scanned yet: reading a long line stays linear.
  const void* nl = std::memchr(buffer_.data() + scanned_, '\n', buffer_.size() - scanned_);
  if (!nl) {
    scanned_ = buffer_.size();
    if (buffer_.size() > max_line) {
      failure = std::string(what) + " longer than " + std::to_string(max_line) + " bytes";
      return false;
    }
    return false;
  }
  const std::size_t at = static_cast<const char*>(nl) - buffer_.data();
  if (at > max_line) {
    failure = std::string(what) + " longer than " + std::to_string(max_line) + " bytes";
    return false;
  }
  if (at + 1 == buffer_.size()) { // the usual case: no copy
    line = std::move(buffer_);
    line.pop_back();
    buffer_.clear();
  } else {
    line.assign(buffer_, 0, at);
    buffer_.erase(0, at + 1);
  }
  scanned_ = 0;
  return true;
}

bool adapter_process::exchange(const std::string& request, std::size_t max_line, std::string& line, std::string& failure,
                               bool& answered_early) {
  using clock = std::chrono::steady_clock;
  answered_early = false;
  // timeout_ is at most max_timeout_seconds: the nanosecond count cannot overflow.
  const auto deadline = clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(timeout_));
  std::size_t sent = 0;
  bool writing = !request.empty();
  std::string send_failure; // set when the adapter stopped reading: what it printed before still counts
  char chunk[65536];
  for (;;) {
    if (take_line(line, max_line, failure)) {
      answered_early = sent < request.size();
      return true;
    }
    if (!failure.empty()) return false;
    const auto left = deadline - clock::now();
    if (left <= clock::duration::zero()) {
      failure = "timed out after " + seconds_text(timeout_) + (sent < request.size() ? " (sending the request)" : "");
      return false;
    }
    const auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(left).count() + 1;
    pollfd fds[2] = {{from_child_, POLLIN, 0}, {writing ? to_child_ : -1, POLLOUT, 0}};
    const int r = ::poll(fds, 2, static_cast<int>(std::min<long long>(left_ms, 1000)));
    if (r < 0 && errno != EINTR) {
      failure = std::string("poll failed: ") + std::strerror(errno);
      return false;
    }
    if (r <= 0) continue;
    if (fds[1].revents) {
      const ssize_t n = ::write(to_child_, request.data() + sent, request.size() - sent);
      if (n > 0) sent += static_cast<std::size_t>(n);
      else if (n < 0 && errno != EINTR && errno != EAGAIN) {
        writing = false;
        send_failure = std::string("could not send the request (") + std::strerror(errno) + "): ";
      }
      if (sent == request.size()) writing = false;
    }
    if (fds[0].revents) {
      const ssize_t n = ::read(from_child_, chunk, sizeof chunk);
      if (n > 0) {
        buffer_.append(chunk, static_cast<std::size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        // End of its output: a last line without '\n' is not a reply.
        failure = send_failure + exit_reason();
        return false;
      }
    }
  }
}

const handshake& adapter_process::start() {
  if (pid_ > 0) return handshake_;
  install_fatal_signal_handlers();
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("cannot create pipes for the adapter");
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    throw std::runtime_error("cannot create pipes for the adapter");
  }
  const int log = log_path_.empty() ? -1 : ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const std::string shell = shell_command(command_);
  std::fflush(nullptr);
  // No fatal signal between fork and registering the group: it would miss the new adapter.
  sigset_t fatal, saved;
  sigemptyset(&fatal);
  for (int s : termination_signals) sigaddset(&fatal, s);
  ::sigprocmask(SIG_BLOCK, &fatal, &saved);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    // Default dispositions for what we changed (ignored-at-start signals stay ignored, as for nohup).
    std::signal(SIGPIPE, SIG_DFL);
    for (int i = 0; i < 3; ++i)
      if (adapter_chain.installed[i]) std::signal(termination_signals[i], SIG_DFL);
    ::sigprocmask(SIG_SETMASK, &saved, nullptr);
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    if (log >= 0) ::dup2(log, 2);
    ::execl("/bin/sh", "sh", "-c", shell.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (pid > 0) {
    ::setpgid(pid, pid); // also here, so the group exists before we might signal it
    register_group(pid);
  }
  ::sigprocmask(SIG_SETMASK, &saved, nullptr);
  ::close(in[0]);
  ::close(out[1]);
  if (log >= 0) ::close(log);
  if (pid < 0) {
    ::close(in[1]);
    ::close(out[0]);
    throw std::runtime_error("cannot start the adapter (fork failed)");
  }
  pid_ = pid;
  to_child_ = in[1];
  from_child_ = out[0];
  set_nonblocking(to_child_);
  set_nonblocking(from_child_);
  if (starts_++ > 0) ++restarts_;

  const std::string who = "`" + command_ + "`";
  std::string line, failure;
  bool early = false;
  handshake_pending_ = true;
  const bool got = exchange("", handshake_limit, line, failure, early);
  handshake_pending_ = false;
  if (!got) {
    stop_group(false);
    throw bad_input("--adapter", who + " sent no handshake: " + failure);
  }
  const std::string shown = line.size() > 200 ? line.substr(0, 200) + "..." : line;
  try {
    // Plain nlohmann parsing: the handshake holds no exact numbers, so a string stays a string
    // (even one starting with cases::raw_number_mark) and a number stays a number.
    const json h = json::parse(line);
    if (!h.is_object() || !h.contains("adapter") || h["adapter"] != "gradspec-adapter/1")
      throw bad_input("", "expected {\"adapter\": \"gradspec-adapter/1\", ...}");
    handshake_ = {};
    auto text = [](const json& v, const std::string& path) {
      if (!v.is_string()) throw bad_input(path, "expected a string");
      return v.get<std::string>();
    };
    if (h.contains("implementation")) {
      const json& impl = h["implementation"];
      if (!impl.is_object()) throw bad_input("/implementation", "expected an object");
      if (impl.contains("name")) handshake_.implementation.name = text(impl["name"], "/implementation/name");
      if (impl.contains("version")) handshake_.implementation.version = text(impl["version"], "/implementation/version");
    }
    if (h.contains("gradients")) {
      if (!h["gradients"].is_boolean()) throw bad_input("/gradients", "expected true or false");
      handshake_.gradients = h["gradients"].get<bool>();
    }
    for (const char* key : {"dtypes", "ops"}) {
      if (!h.contains(key) || !h[key].is_array()) throw bad_input(std::string("/") + key, "expected a list of strings");
      for (std::size_t i = 0; i < h[key].size(); ++i)
        (std::string(key) == "ops" ? handshake_.ops : handshake_.dtypes).insert(text(h[key][i], std::string("/") + key + "/" + std::to_string(i)));
    }
  } catch (const bad_input& e) {
    stop_group(false);
    throw bad_input("--adapter", who + " sent a bad handshake: " + e.what() + ": " + shown);
  } catch (const std::exception& e) {
    stop_group(false);
    throw bad_input("--adapter", who + " sent a bad handshake: " + e.what() + ": " + shown);
  }
  return handshake_;
}

candidate_result adapter_process::ask(const std::string& id, const std::string& line, std::size_t max_reply) {
  candidate_result failed;
  failed.id = id;
  if (pid_ <= 0) {
    failed.error = "adapter not running";
    return failed;
  }
  std::string reply, failure;
  bool early = false;
  if (!exchange(line + "\n", max_reply, reply, failure, early)) {
    failed.error = failure;
    stop_group(false);
    return failed;
  }
  // An answer before the whole request was read leaves the stream out of step: restart after it.
  if (early) stop_group(false);
  try {
    const json r = cases::parse_json_text(reply, "response");
    candidate_result result = parse_response(r, "");
    if (result.id != id) throw bad_input("/id", "answers \"" + result.id + "\", expected \"" + id + "\"");
    return result;
  } catch (const std::exception& e) {
    const auto* bad = dynamic_cast<const bad_input*>(&e);
    failed.error = "unparseable response (" + (bad ? bad->message() : std::string(e.what())) + "): " + reply.substr(0, 120);
    stop_group(false);
    return failed;
  }
}

} // namespace gradspec::checkers
