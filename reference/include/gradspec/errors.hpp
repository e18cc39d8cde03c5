// Bad input is reported as a value-carrying exception: the JSON path (RFC 6901 pointer, relative to
// whatever the thrower knows) and what is wrong. Callers that know more (the file, the case index)
// catch it, prefix the path and rethrow; the CLI turns it into exit code 2.
#pragma once

#include <stdexcept>
#include <string>

namespace gradspec {

class bad_input : public std::runtime_error {
public:
  bad_input(std::string path, std::string message)
      : std::runtime_error(path.empty() ? message : path + ": " + message), path_(std::move(path)),
        message_(std::move(message)) {}
  const std::string& path() const { return path_; }
  const std::string& message() const { return message_; }
  // The same error under a longer path: `prefix` + "/" + path.
  bad_input under(const std::string& prefix) const {
    return bad_input(path_.empty() ? prefix : prefix + "/" + path_, message_);
  }

  // The same error located in `file`: "file: /cases/3/inputs/w: message".
  bad_input in_file(const std::string& file) const {
    return bad_input(path_.empty() ? file : file + ": " + path_, message_);
  }

private:
  std::string path_, message_;
};

} // namespace gradspec
