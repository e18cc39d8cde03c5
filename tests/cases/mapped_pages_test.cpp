// release_mapped_pages: a mapped file's pages leave resident memory and its
// text reads the same afterwards; text that is not in a live mapping is never touched (MADV_DONTNEED
// would zero ordinary memory).
#include "gradspec/cases/fast_golden.hpp"
#include "gradspec/cases/mapped_pages.hpp"
#include "support/scratch.hpp"

#include <boost/test/unit_test.hpp>

#include <fstream>
#include <string>
#include <unistd.h>

using namespace gradspec;

namespace {
// Resident pages of this process (from /proc/self/statm), in bytes.
std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

std::string file_text(std::size_t bytes) {
  std::string text(bytes, ' ');
  for (std::size_t i = 0; i < bytes; ++i) text[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return text;
}

// Touches every page of `text` (the sum keeps the reads).
std::size_t touch(std::string_view text) {
  std::size_t sum = 0;
  for (std::size_t i = 0; i < text.size(); i += 512) sum += static_cast<unsigned char>(text[i]);
  return sum;
}
} // namespace

BOOST_AUTO_TEST_SUITE(mapped_pages_test)

BOOST_AUTO_TEST_CASE(released_pages_leave_memory_and_read_the_same) {
  testing::scratch_dir dir("gradspec_mapped_pages");
  const std::string path = (dir.dir / "big.txt").string();
  const std::string want = file_text(std::size_t(64) << 20);
  std::ofstream(path, std::ios::binary) << want;
  auto file = cases::mapped_file::open(path);
  BOOST_REQUIRE(file);
  const std::string_view text = file->text();
  const std::size_t sum = touch(text);
  const std::size_t before = resident_bytes();
  cases::release_mapped_pages(text); // the whole file, as check does once a golden file is read
  const std::size_t after = resident_bytes();
  BOOST_TEST(before - after >= (std::size_t(48) << 20), "resident " << before << " -> " << after);
  BOOST_TEST(touch(text) == sum);
  BOOST_TEST(text == want); // every byte comes back from the file
  // A span: its whole pages only; the text still reads the same.
  touch(text);
  const std::size_t full = resident_bytes();
  cases::release_mapped_pages(text.substr(100, std::size_t(32) << 20));
  BOOST_TEST(full - resident_bytes() >= (std::size_t(24) << 20));
  BOOST_TEST(text == want);
}

BOOST_AUTO_TEST_CASE(text_outside_a_mapping_is_left_alone) {
  const std::string heap = file_text(std::size_t(1) << 20), copy = heap;
  cases::release_mapped_pages(heap);
  cases::release_mapped_pages(std::string_view());
  BOOST_TEST(heap == copy);
  // A span that starts in a mapping and runs past its end is ignored (and the text reads the same).
  testing::scratch_dir dir("gradspec_mapped_pages");
  const std::string path = (dir.dir / "small.txt").string();
  std::ofstream(path, std::ios::binary) << file_text(3 * 4096);
  auto file = cases::mapped_file::open(path);
  BOOST_REQUIRE(file);
  const std::size_t sum = touch(file->text());
  cases::release_mapped_pages(std::string_view(file->text().data(), file->text().size() + 4096));
  BOOST_TEST(touch(file->text()) == sum);
}

BOOST_AUTO_TEST_SUITE_END()
