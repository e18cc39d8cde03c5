// Adapter processes, pipes and signals of `gradspec run` / `gradcheck`, against hostile adapters
// (tests/cli/hostile_adapter.py): no hang on a full pipe, no process left behind (on stop, on
// failure, on SIGINT/SIGTERM/SIGHUP to gradspec), signals reported by name, replies bounded, bad
// handshakes exit 2, nohup respected, --timeout validated. Runs the real binary; every run that
// could hang without the fixes runs under `timeout`, so a regression fails instead of hanging.
#include "gradspec/cases/json_io.hpp"
#include "support/scratch.hpp"

#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdlib>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using gradspec::cases::json;

namespace {

const std::string source_dir = GRADSPEC_SOURCE_DIR;
const std::string hostile = "/usr/bin/python3 tests/cli/hostile_adapter.py";

struct outcome {
  int code; // exit status; 124/137 when `timeout` had to stop it
  std::string output;
};

// `gradspec ARGS` from the source root, killed after `limit` seconds. The output goes through a
// file, not a pipe: a process left behind (the bug under test) would hold a pipe open forever.
outcome run_limited(const std::string& args, int limit = 60) {
  const fs::path log = fs::temp_directory_path() / ("gradspec_hardening_log_" + std::to_string(::getpid()));
  const std::string command = "cd " + source_dir + " && timeout -k 5 " + std::to_string(limit) + " " + GRADSPEC_BINARY + " " + args +
                              " </dev/null >" + log.string() + " 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream in(log);
  std::string output{std::istreambuf_iterator<char>(in), {}};
  fs::remove(log);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// `gradspec ARGS` in the background (its own pid: sh execs it), with default dispositions for the
// fatal signals except those in `ignored`.
pid_t spawn(const std::string& args, std::vector<int> ignored = {}) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (int s : {SIGINT, SIGTERM, SIGHUP}) std::signal(s, SIG_DFL);
    for (int s : ignored) std::signal(s, SIG_IGN);
    if (::chdir(source_dir.c_str()) != 0) ::_exit(126);
    const std::string command = std::string("exec ") + GRADSPEC_BINARY + " " + args + " >/dev/null 2>&1";
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// Waits up to `seconds` for our child; its wait status, or -1 if still running (then killed).
int wait_child(pid_t pid, double seconds) {
  int status = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

// A process that exists and is not a zombie (an orphan may wait as a zombie for a busy init).
bool running(long pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return false;
  const auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z';
}

// True when none of `pids` runs within `seconds`.
bool all_gone(const std::vector<long>& pids, double seconds = 5) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    bool any = false;
    for (long p : pids) any = any || running(p);
    if (!any) return true;
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

struct scratch : gradspec::testing::scratch_dir {
  scratch() : scratch_dir("gradspec_hardening") {}
};

// The pids the spawn-* adapters wrote, one "SH_PID PID CHILD_PID" line per start.
std::vector<long> pids_in(const std::string& file) {
  std::ifstream in(file);
  std::vector<long> pids;
  for (long p; in >> p;) pids.push_back(p);
  return pids;
}

bool wait_for_file(const std::string& path, double seconds = 20) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!fs::exists(path))
    if (std::chrono::steady_clock::now() > until) return false;
    else std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return true;
}

// A suite of one case: the one of `file` with the longest text (for feed_forward.json, a request
// of about 400 KB, far over a pipe's 64 KiB).
std::string one_case_suite(const scratch& s, const std::string& file) {
  json doc = gradspec::cases::read_json_file(source_dir + "/" + file);
  json largest;
  std::size_t size = 0;
  for (const auto& c : doc["cases"])
    if (const auto n = gradspec::cases::to_text(c).size(); n > size) size = n, largest = c;
  doc["cases"] = json::array({largest});
  const std::string path = s.path("one_" + fs::path(file).filename().string());
  std::ofstream(path) << gradspec::cases::to_text(doc);
  return path;
}

// The reasons of the cases in a run's --json summary.
std::vector<std::string> reasons(const std::string& summary) {
  std::vector<std::string> out;
  const json doc = gradspec::cases::read_json_file(summary);
  for (const auto& c : doc["cases"]) out.push_back(c.value("reason", ""));
  return out;
}

bool every_reason_has(const std::vector<std::string>& rs, const std::string& text) {
  for (const auto& r : rs)
    if (r.find(text) == std::string::npos) return false;
  return !rs.empty();
}

std::string joined(const std::vector<std::string>& rs) {
  std::string out;
  for (const auto& r : rs) out += "[" + r.substr(0, 200) + "] ";
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(hardening_process_test)

// A request larger than the pipe to an adapter that reads nothing: the write used to block forever.
BOOST_AUTO_TEST_CASE(a_stalled_adapter_times_out_even_while_we_write) {
  scratch s;
  const std::string suite = one_case_suite(s, "cases/standard/feed_forward.json");
  BOOST_TEST(run_limited("run --suite " + suite + " --dtype float64 --emit-requests " + s.path("req.jsonl")).code == 0);
  BOOST_TEST_REQUIRE(fs::file_size(s.path("req.jsonl")) > 65536u); // the premise: more than a pipe holds
  const auto r = run_limited("run --suite " + suite + " --adapter 'OPS=feed_forward " + hostile +
                             " stall' --dtype float64 --timeout 1 --quiet --json " + s.path("out.json"), 30);
  BOOST_TEST(r.code == 1, "exit " << r.code << ": " << r.output);
  if (r.code == 1) BOOST_TEST(every_reason_has(reasons(s.path("out.json")), "timed out after 1 s"));
}

// An adapter that answers (with 1 MiB) before reading the whole request: reading and writing must
// go on together, or both sides block on full pipes.
BOOST_AUTO_TEST_CASE(an_adapter_may_answer_while_the_request_is_written) {
  scratch s;
  const std::string suite = one_case_suite(s, "cases/standard/feed_forward.json");
  const auto r = run_limited("run --suite " + suite + " --adapter 'OPS=feed_forward " + hostile +
                             " answer-early' --dtype float64 --timeout 20 --quiet --json " + s.path("out.json"), 30);
  BOOST_TEST(r.code == 1, "exit " << r.code << ": " << r.output);
  if (r.code == 1) {
    const auto rs = reasons(s.path("out.json"));
    BOOST_TEST(every_reason_has(rs, "answered early"), joined(rs));
  }
}

// SIGTERM, SIGINT or SIGHUP to `run` mid-case: gradspec ends by that signal, and neither the
// adapter's shell, the adapter nor the child it started is left running.
BOOST_AUTO_TEST_CASE(a_signal_to_run_leaves_no_adapter_process) {
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    scratch s;
    const std::string pids = s.path("pids");
    // `; exit $?` keeps the shell around as the group leader, with python and `sleep` under it.
    const pid_t gradspec = spawn("run --suite cases/standard/relu.json --adapter '" + hostile + " spawn-hang " + pids +
                                 "; exit $?' --dtype float64 --timeout 100 --quiet");
    BOOST_TEST_REQUIRE(wait_for_file(pids));
    std::this_thread::sleep_for(std::chrono::milliseconds(300)); // the handshake, and the first request
    const auto adapter = pids_in(pids);
    BOOST_TEST_REQUIRE(adapter.size() == 3u);
    BOOST_TEST(adapter[0] != gradspec, "the shell stays as the group leader");
    ::kill(gradspec, sig);
    const int status = wait_child(gradspec, 10);
    BOOST_TEST((status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == sig), "signal " << sig << ": status " << status);
    BOOST_TEST(all_gone(adapter), "signal " << sig << ": adapter processes still running");
  }
}

// A signal while `report` waits for gnuplot (here a fake one that sleeps) kills gnuplot and removes
// the private folder, and DIR, which report created.
BOOST_AUTO_TEST_CASE(a_signal_to_report_leaves_no_gnuplot_and_no_file) {
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    scratch s;
    const std::string summary = s.path("summary.json");
    BOOST_TEST_REQUIRE(run_limited("run --quiet --suite cases/standard/relu.json --builtin armadillo-f64 --json " + summary).code == 0);
    const fs::path bin = s.dir / "bin";
    fs::create_directories(bin);
    const std::string pidfile = s.path("gnuplot.pid");
    std::ofstream(bin / "gnuplot") << "#!/bin/sh\necho $$ > " << pidfile << ".tmp && mv " << pidfile << ".tmp " << pidfile
                                   << "\nexec sleep 30\n";
    fs::permissions(bin / "gnuplot", fs::perms::owner_all);
    const std::string saved_path = std::getenv("PATH");
    ::setenv("PATH", (bin.string() + ":" + saved_path).c_str(), 1);
    const pid_t gradspec = spawn("report " + summary + " --out " + s.path("report"));
    ::setenv("PATH", saved_path.c_str(), 1);
    BOOST_TEST_REQUIRE(wait_for_file(pidfile));
    const auto gnuplot = pids_in(pidfile);
    BOOST_TEST_REQUIRE(gnuplot.size() == 1u);
    ::kill(gradspec, sig);
    const int status = wait_child(gradspec, 10);
    BOOST_TEST((status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == sig), "signal " << sig << ": status " << status);
    BOOST_TEST(all_gone(gnuplot), "signal " << sig << ": gnuplot still running");
    BOOST_TEST(!fs::exists(s.path("report")), "signal " << sig << ": the report folder (with its private folder) is left");
  }
}

// The adapter's children die with it: at the end of a run (the adapter exits cleanly on EOF and
// leaves its child behind) and when a case times out.
BOOST_AUTO_TEST_CASE(an_adapters_children_die_on_stop_and_on_failure) {
  for (const char* mode : {"spawn-answer", "spawn-hang"}) {
    scratch s;
    const std::string pids = s.path("pids");
    const auto r = run_limited("run --suite cases/standard/relu.json --adapter '" + hostile + " " + mode + " " + pids +
                               "' --dtype float64 --timeout 1 --quiet", 30);
    BOOST_TEST(r.code == 1, mode << ": " << r.output);
    const auto adapter = pids_in(pids);
    BOOST_TEST(adapter.size() >= 3u, mode);
    // Each start wrote "SH_PID PID CHILD_PID"; the first is gradspec itself (sh exec'd python).
    std::vector<long> ours;
    for (std::size_t i = 0; i + 2 < adapter.size(); i += 3) ours.insert(ours.end(), {adapter[i + 1], adapter[i + 2]});
    BOOST_TEST(all_gone(ours), mode << ": adapter processes still running");
  }
}

// A segfault is named, whether the shell exec'd the adapter (WIFSIGNALED) or outlived it (sh's 139);
// a compound command still runs as written.
BOOST_AUTO_TEST_CASE(a_crash_by_signal_is_reported_by_name) {
  scratch s;
  for (const std::string& command : {hostile + " segv", hostile + " segv; exit $?"}) {
    const auto r = run_limited("run --suite cases/standard/relu.json --adapter '" + command +
                               "' --dtype float64 --timeout 10 --quiet --json " + s.path("out.json"), 60);
    BOOST_TEST(r.code == 1, "exit " << r.code << ": " << r.output);
    if (r.code == 1) {
      const auto rs = reasons(s.path("out.json"));
      BOOST_TEST(every_reason_has(rs, "killed by signal 11 (SIGSEGV"), command << ": " << joined(rs));
    }
  }
  const auto r = run_limited("run --suite cases/standard/relu.json --adapter 'cd tests/cli && /usr/bin/python3 fake_adapter.py'"
                             " --dtype float64 --timeout 2 --quiet --json " + s.path("out.json"), 60);
  BOOST_TEST(r.code == 1, "exit " << r.code << ": " << r.output);
  if (r.code == 1) {
    const auto rs = reasons(s.path("out.json"));
    BOOST_TEST_REQUIRE(rs.size() == 3u);
    BOOST_TEST(rs[0] == "", joined(rs)); // relu/default/1x4/0 passes through `cd ... &&`
    BOOST_TEST(rs[1].find("exited with status 3") != std::string::npos, joined(rs));
  }
}

// A runaway reply (100 MiB for a 4-value case) fails the case once past the case's bound, instead
// of being read (and parsed) whole; the adapter is restarted for the next case.
BOOST_AUTO_TEST_CASE(an_oversized_reply_fails_the_case) {
  scratch s;
  const auto r = run_limited("run --suite cases/standard/relu.json --adapter '" + hostile +
                             " huge-reply 100' --dtype float64 --timeout 30 --quiet --json " + s.path("out.json"), 60);
  BOOST_TEST(r.code == 1, "exit " << r.code << ": " << r.output);
  if (r.code == 1) {
    const auto rs = reasons(s.path("out.json"));
    BOOST_TEST(every_reason_has(rs, "reply longer than"), joined(rs));
  }
}

BOOST_AUTO_TEST_CASE(a_bad_handshake_exits_2_naming_it) {
  for (const char* mode : {"handshake-huge", "handshake-deep", "handshake-not-object", "handshake-number-name"}) {
    const auto r = run_limited("run --suite cases/standard/relu.json --adapter '" + hostile + " " + mode + "' --quiet", 60);
    BOOST_TEST(r.code == 2, mode << ": " << r.output);
    BOOST_TEST(r.output.find("handshake") != std::string::npos, mode << ": " << r.output);
  }
  const auto r = run_limited("gradcheck --cases cases/standard/relu.json --adapter '" + hostile + " handshake-deep'", 60);
  BOOST_TEST(r.code == 2, r.output);
}

BOOST_AUTO_TEST_CASE(timeouts_and_conflicting_options_exit_2) {
  scratch s;
  for (const char* t : {"nan", "inf", "0", "-1", "1e10", "abc"}) {
    auto r = run_limited(std::string("run --suite cases/standard/relu.json --adapter '/usr/bin/python3 tests/cli/fake_adapter.py' --timeout ") + t, 30);
    BOOST_TEST(r.code == 2, t << ": " << r.output);
    BOOST_TEST(r.output.find("--timeout") != std::string::npos, r.output);
    r = run_limited(std::string("gradcheck --cases cases/standard/relu.json --adapter '/usr/bin/python3 tests/cli/fake_adapter.py' --timeout ") + t, 30);
    BOOST_TEST(r.code == 2, t << ": " << r.output);
    BOOST_TEST(r.output.find("--timeout") != std::string::npos, r.output);
  }
  // The largest timeout accepted does not expire at once (the deadline arithmetic holds).
  auto r = run_limited("run --suite cases/standard/relu.json --adapter '" + hostile + " spawn-answer " + s.path("pids") +
                       "' --dtype float64 --timeout 1e6 --quiet --json " + s.path("out.json"), 30);
  BOOST_TEST(r.code == 1, "exit " << r.code << ": " << r.output);
  if (r.code == 1) BOOST_TEST(every_reason_has(reasons(s.path("out.json")), "not implemented"));
  // --emit-requests with --adapter or --builtin, or both of those: refused, nothing written.
  const std::string emit = " --emit-requests " + s.path("req.jsonl");
  for (const std::string& extra : {emit + " --adapter x", emit + " --builtin reference-f64", std::string(" --adapter x --builtin reference-f64")}) {
    r = run_limited("run --suite cases/standard/relu.json" + extra, 30);
    BOOST_TEST(r.code == 2, extra << ": " << r.output);
    BOOST_TEST(r.output.find("--adapter") + r.output.find("--builtin") != 2 * std::string::npos, r.output);
  }
  BOOST_TEST(!fs::exists(s.path("req.jsonl")));
}

// Under nohup (SIGHUP ignored at start) a hangup changes nothing: no handler is installed over
// SIG_IGN, neither for writing files (gen) nor for adapters (run). SIGTERM still ends both, leaving
// no temporary and no adapter.
BOOST_AUTO_TEST_CASE(nohup_is_respected) {
  {
    scratch s;
    const pid_t gen = spawn("gen --suite standard --jobs 1 --quiet --out " + s.path("suite"), {SIGHUP});
    // Once a file is written (the temporaries' handler is in place), gen still has seconds of work.
    bool written = false;
    for (int i = 0; i < 1000 && !written; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (fs::is_directory(s.path("suite")))
        for (const auto& e : fs::directory_iterator(s.path("suite"))) written = written || e.path().extension() == ".json";
    }
    BOOST_TEST_REQUIRE(written);
    ::kill(gen, SIGHUP);
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    int status = 0;
    BOOST_TEST(::waitpid(gen, &status, WNOHANG) == 0, "gen ended on an ignored SIGHUP");
    ::kill(gen, SIGTERM);
    status = wait_child(gen, 10);
    BOOST_TEST((status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM));
    for (const auto& e : fs::directory_iterator(s.path("suite")))
      BOOST_TEST(e.path().filename().string().find(".tmp") == std::string::npos, e.path());
  }
  {
    scratch s;
    const std::string pids = s.path("pids");
    const pid_t run = spawn("run --suite cases/standard/relu.json --adapter '" + hostile + " spawn-hang " + pids +
                                "; exit $?' --dtype float64 --timeout 100 --quiet",
                            {SIGHUP});
    BOOST_TEST_REQUIRE(wait_for_file(pids));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::kill(run, SIGHUP);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    int status = 0;
    BOOST_TEST(::waitpid(run, &status, WNOHANG) == 0, "run ended on an ignored SIGHUP");
    ::kill(run, SIGTERM);
    status = wait_child(run, 10);
    BOOST_TEST((status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM));
    BOOST_TEST(all_gone(pids_in(pids)));
  }
}

// Strings from an adapter that begin with U+0001 (the JSON writer's internal raw-number mark) stay
// strings in the --json summary and the --results file. Depends on the writer fix in
// cases/src/json_io.cpp (another branch): fails until that is merged.
BOOST_AUTO_TEST_CASE(adapter_strings_starting_with_u0001_stay_strings) {
  scratch s;
  const auto r = run_limited("run --suite cases/standard/relu.json --adapter '" + hostile + " marks' --dtype float64 --quiet --json " +
                                 s.path("out.json") + " --results " + s.path("results.json"),
                             30);
  BOOST_TEST(r.code == 1, "exit " << r.code << ": " << r.output);
  for (const char* file : {"out.json", "results.json"}) {
    std::ifstream in(s.path(file));
    std::stringstream text;
    text << in.rdbuf();
    json doc;
    BOOST_CHECK_NO_THROW(doc = json::parse(text.str())); // plain nlohmann: strict JSON, no raw numbers
    // The handshake name and the error message, as the strings they were.
    for (const char* escaped : {"\\u0001x", "\\u0001y"})
      BOOST_TEST(doc.dump().find(escaped) != std::string::npos, file << " lacks " << escaped << ": " << text.str().substr(0, 300));
  }
}

BOOST_AUTO_TEST_SUITE_END()
