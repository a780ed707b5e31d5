// Outputs never damage what they replace (cli/output.hpp): a regular file is replaced whole
// through a temporary; a symlink is followed and stays a symlink; a special file (a
// device, a FIFO) is written in place and stays what it was; a failed write leaves no
// temporary file behind. Each case runs `xattn simulate -o PATH` in-process, as a user
// would, and then looks at the file system.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/cli/cli_test_util.hpp"

namespace xattn::cli::test {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> simulate_to(const std::string& out) {
  return {"simulate", kDefaultScenario, "--scope", "layer", "-m", "lv-xattn", "-p", "fwd", "-f", "json", "-o", out};
}

TEST(Output, ASymlinkIsFollowedAndStaysASymlink) {
  // link.json -> data/real.json: after the run, link.json is still a link and real.json
  // holds the JSON.
  TempDir dir;
  fs::create_directories(dir.path("data"));
  const std::string real = dir.write("data/real.json", "old");
  fs::create_symlink("data/real.json", dir.path("link.json"));
  CliResult r = run(simulate_to(dir.path("link.json")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(dir.path("link.json"))));
  EXPECT_NE(read_file(real).find("\"results\""), std::string::npos);
  // Nothing else was left in either folder.
  EXPECT_EQ(dir.file_count(), 2u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path("data")), fs::directory_iterator{}), 1);
}

TEST(Output, ADanglingSymlinkCreatesTheFileItNames) {
  TempDir dir;
  fs::create_symlink("made.json", dir.path("link.json"));
  CliResult r = run(simulate_to(dir.path("link.json")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(dir.path("link.json"))));
  EXPECT_TRUE(fs::is_regular_file(dir.path("made.json")));
}

TEST(Output, ASymlinkToADeviceIsWrittenInPlace) {
  // A link to /dev/null (a character device): the device stays a device, the link a link.
  TempDir dir;
  fs::create_symlink("/dev/null", dir.path("null"));
  CliResult r = run(simulate_to(dir.path("null")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(dir.path("null"))));
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
  EXPECT_EQ(dir.file_count(), 1u);
}

TEST(Output, AFifoIsWrittenInPlace) {
  // A named pipe: a reader gets the whole JSON; the pipe is still a pipe afterwards.
  TempDir dir;
  const std::string fifo = dir.path("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string got;
  std::thread reader([&] {
    std::ifstream in(fifo);
    std::stringstream s;
    s << in.rdbuf();
    got = s.str();
  });
  CliResult r = run(simulate_to(fifo));
  reader.join();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(got.find("\"results\""), std::string::npos);
  EXPECT_TRUE(fs::is_fifo(fifo));
  EXPECT_EQ(dir.file_count(), 1u);
}

TEST(Output, AFullDeviceIsAnErrorAndStaysADevice) {
  // /dev/full refuses every write with ENOSPC: the command fails, says so, and /dev/full
  // is still the device (run as root, a rename would have replaced it with a file).
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full here";
  CliResult r = run(simulate_to("/dev/full"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("/dev/full"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_character_file("/dev/full"));
}

TEST(Output, ARegularFileIsReplacedWholeAndKeepsItsPermissions) {
  TempDir dir;
  const std::string out = dir.write("out.json", "old");
  ::chmod(out.c_str(), 0640);
  CliResult r = run(simulate_to(out));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(read_file(out).find("\"results\""), std::string::npos);
  EXPECT_EQ(fs::status(out).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  EXPECT_EQ(dir.file_count(), 1u);
}

}  // namespace
}  // namespace xattn::cli::test
