#include "gradspec/cases/write_suite.hpp"

#include "gradspec/cases/suites.hpp"
#include "gradspec/errors.hpp"

#include <omp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

namespace gradspec::cases {

std::pair<unsigned, unsigned> parse_shard(const std::string& text) {
  unsigned i = 0, n = 0;
  char tail = 0;
  if (std::sscanf(text.c_str(), "%u/%u%c", &i, &n, &tail) != 2 || n == 0 || i >= n || n > 100000)
    throw bad_input("--shard", "expected i/n with 0 <= i < n, got \"" + text + "\"");
  return {i, n};
}

namespace {

class progress_bar {
public:
  progress_bar(bool enabled, std::size_t total) : enabled_(enabled), total_(total) { draw(); }
  void step(std::size_t n = 1) {
    done_ += n;
    draw();
  }
  ~progress_bar() {
    if (enabled_) std::fputs("\n", stderr);
  }

private:
  bool enabled_;
  std::size_t total_, done_ = 0;
  void draw() {
    if (!enabled_) return;
    const int width = 40, filled = total_ ? static_cast<int>(width * done_ / total_) : width;
    std::fprintf(stderr, "\r[%s%s] %zu/%zu cases", std::string(filled, '#').c_str(), std::string(width - filled, ' ').c_str(), done_, total_);
    std::fflush(stderr);
  }
};

void write_one(const suite_file& f, const suite_run& run, const std::string& path) {
  case_file file;
  file.path = path;
  file.header["format"] = "gradspec-cases/1";
  file.header["notes"] = f.notes;
  file.cases = f.cases;
  generation_options options = run.generation;
  options.text_values = true;
  write_json_atomically(path, generate_file(std::move(file), options));
}

} // namespace

int write_suite(const suite_run& run) {
  namespace fs = std::filesystem;
  std::vector<suite_file> all = build_suite(run.suite);
  std::vector<suite_file> mine;
  for (std::size_t i = 0; i < all.size(); ++i)
    if (i % run.shard_count == run.shard_index) mine.push_back(std::move(all[i]));
  std::error_code ec;
  fs::create_directories(run.dir, ec);
  if (!fs::is_directory(run.dir)) throw bad_input("--out", "cannot create folder " + run.dir);
  std::size_t total = 0;
  for (const auto& f : mine) total += f.cases.size();
  auto path_of = [&](const suite_file& f) { return (fs::path(run.dir) / (f.op + ".json")).string(); };

  const unsigned jobs = std::max(1u, std::min<unsigned>(run.jobs, static_cast<unsigned>(mine.size())));
  if (jobs == 1) {
    progress_bar bar(run.progress, total);
    suite_run r = run;
    r.generation.on_case_done = [&] { bar.step(); };
    for (const auto& f : mine) write_one(f, r, path_of(f));
    return 0;
  }

  // Worker w writes files w, w + jobs, ...; each finished case is one byte on the pipe.
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("cannot create a pipe");
  std::fflush(nullptr);
  std::vector<pid_t> workers;
  for (unsigned w = 0; w < jobs; ++w) {
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::close(fds[0]);
      omp_set_num_threads(1);
      int code = 0;
      try {
        suite_run r = run;
        r.generation.on_case_done = [&] { (void)!::write(fds[1], ".", 1); };
        for (std::size_t i = w; i < mine.size(); i += jobs) write_one(mine[i], r, path_of(mine[i]));
      } catch (const bad_input& e) {
        std::cerr << "gradspec: error: " << e.what() << "\n";
        code = 2;
      } catch (const std::exception& e) {
        std::cerr << "gradspec: error: " << e.what() << "\n";
        code = 1;
      }
      std::fflush(nullptr);
      ::_exit(code);
    }
    workers.push_back(pid);
  }
  ::close(fds[1]);
  {
    progress_bar bar(run.progress, total);
    char buffer[256];
    ssize_t n;
    while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0) bar.step(static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int result = 0;
  for (pid_t pid : workers) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    result = std::max(result, code);
  }
  return result;
}

} // namespace gradspec::cases
