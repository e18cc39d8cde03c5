#include "provenance.hpp"

#include "gradspec/cases/generate.hpp"
#include "gradspec/errors.hpp"

#include <boost/uuid/detail/sha1.hpp>

#include <cstdio>
#include <fstream>

namespace gradspec::cli {

std::string file_sha1(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw bad_input("", path + ": cannot open file for reading");
  boost::uuids::detail::sha1 sha;
  char buffer[1 << 16];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) sha.process_bytes(buffer, static_cast<std::size_t>(in.gcount()));
  boost::uuids::detail::sha1::digest_type digest;
  sha.get_digest(digest);
  std::string hex;
  for (unsigned word : digest) {
    char part[9];
    std::snprintf(part, sizeof part, "%08x", word);
    hex += part;
  }
  return hex;
}

cases::json provenance_json(const std::vector<cases::case_file>& files, const cases::json& candidate) {
  cases::json suites = cases::json::array();
  for (const auto& f : files) suites.push_back({{"file", f.path}, {"sha1", file_sha1(f.path)}, {"cases", f.cases.size()}});
  return {{"gradspec", {{"version", cases::generator_version}}}, {"suites", suites}, {"candidate", candidate}};
}

} // namespace gradspec::cli
