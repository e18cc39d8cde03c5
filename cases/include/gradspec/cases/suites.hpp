// The named suites: `standard` (every op, tiny readable and realistic cases, batch axes, seeds,
// every param variant), `edge` (one flagged case per recipe of EDGE_CASES.md, Wycheproof style),
// `examples` (the seed slides' worked exercises) and `sweep` (size sweeps for error-growth studies,
// generated on demand). A suite is written as one file per op. Each op's standard, edge and sweep
// cases are in its file (cases/generators/X.cpp) and those suites list the ops in catalogue order;
// examples, one study of the lecture slides across ops, is in cases/src/suites.cpp.
#pragma once

#include "gradspec/cases/case_file.hpp"

#include <string>
#include <vector>

namespace gradspec::cases {

struct suite_file {
  std::string op;
  json notes;                  // flag -> {kind, description}: only the flags its cases use
  std::vector<test_case> cases; // specs (no expected yet)
};

const std::vector<std::string>& suite_names();
// Throws bad_input("--suite") for an unknown name.
std::vector<suite_file> build_suite(const std::string& name);

// Every flag the suites use, with its explanation: {"kind": ..., "description": ...}. Flags of several
// ops are explained in cases/src/shared_flag_notes.cpp, the others in their op's file.
const json& flag_notes();

} // namespace gradspec::cases
