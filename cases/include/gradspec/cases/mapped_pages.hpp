// Giving a mapped input file's pages back while check goes on reading it. Golden and result files
// are mapped read-only (fast_golden.hpp); the pages read so far count in the process's resident
// memory until unmapped. madvise(MADV_DONTNEED) drops them from it; a later read of the same bytes
// maps them again from the page cache (or the file), so this never changes what is read: it only
// bounds resident memory by what is still being worked on (one case's expected values), not by the
// file. Spans that are not inside a live mapping (text in ordinary memory, which MADV_DONTNEED would
// zero) are left alone.
#pragma once

#include <string_view>

namespace gradspec::cases {

// The whole pages inside `span`, if it lies within one live mapped_file.
void release_mapped_pages(std::string_view span);

} // namespace gradspec::cases
