#include "wal/layout.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/absl_view.h"
#include "mvcc/resource_prefix.h"

namespace rametcd::wal {
namespace fs = std::filesystem;

std::string_view StreamOfKey(std::string_view key) {
  std::string_view prefix = mvcc::ResourcePrefixOf(key);
  return prefix.empty() ? kOtherStream : prefix;
}

std::string WalDir(std::string_view data_dir) { return absl::StrCat(AbslView(data_dir), "/wal"); }

std::string StreamDirName(std::string_view stream) {
  std::string out;
  for (char c : stream) {
    if (absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-') {
      out.push_back(c);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", static_cast<unsigned char>(c));
    }
  }
  return out;
}

absl::StatusOr<std::string> StreamNameFromDir(std::string_view dir_name) {
  std::string out;
  for (size_t i = 0; i < dir_name.size(); ++i) {
    if (dir_name[i] != '%') {
      out.push_back(dir_name[i]);
      continue;
    }
    int byte = 0;
    if (i + 3 > dir_name.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad stream directory name: ", AbslView(dir_name)));
    }
    if (std::sscanf(std::string(dir_name.substr(i + 1, 2)).c_str(), "%2X", &byte) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad stream directory name: ", AbslView(dir_name)));
    }
    out.push_back(static_cast<char>(byte));
    i += 2;
  }
  if (StreamDirName(out) != dir_name) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad stream directory name: ", AbslView(dir_name)));
  }
  return out;
}

std::string SegmentFileName(uint64_t seq, bool checkpoint) {
  return absl::StrFormat("%016x.%s", seq, checkpoint ? "ckpt" : "log");
}

std::string StreamFiles::LogPath(uint64_t seq) const {
  return absl::StrCat(dir, "/", SegmentFileName(seq, false));
}

std::string StreamFiles::CheckpointPath() const {
  return absl::StrCat(dir, "/", SegmentFileName(*checkpoint, true));
}

namespace {

absl::StatusOr<StreamFiles> ListStream(const fs::path& dir) {
  StreamFiles files;
  files.dir = dir.string();
  auto name = StreamNameFromDir(dir.filename().string());
  if (!name.ok()) return name.status();
  files.stream = *std::move(name);
  std::vector<uint64_t> checkpoints;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string file = e.path().filename().string();
    const std::string ext = e.path().extension().string();
    uint64_t seq = 0;
    if (ext == ".tmp") {
      files.garbage.push_back(e.path().string());
    } else if ((ext == ".log" || ext == ".ckpt") && file.size() == 16 + ext.size() &&
               absl::SimpleHexAtoi(file.substr(0, 16), &seq) &&
               file == SegmentFileName(seq, ext == ".ckpt")) {
      (ext == ".log" ? files.logs : checkpoints).push_back(seq);
    } else {
      return absl::FailedPreconditionError(
          absl::StrCat("unexpected file in the data dir: ", e.path().string()));
    }
  }
  if (ec)
    return absl::InternalError(absl::StrCat("cannot list ", dir.string(), ": ", ec.message()));
  std::sort(checkpoints.begin(), checkpoints.end());
  std::sort(files.logs.begin(), files.logs.end());
  if (!checkpoints.empty()) {
    files.checkpoint = checkpoints.back();
    checkpoints.pop_back();
    for (uint64_t seq : checkpoints) {
      files.garbage.push_back((dir / SegmentFileName(seq, true)).string());
    }
    auto live = std::upper_bound(files.logs.begin(), files.logs.end(), *files.checkpoint);
    for (auto it = files.logs.begin(); it != live; ++it) {
      files.garbage.push_back((dir / SegmentFileName(*it, false)).string());
    }
    files.logs.erase(files.logs.begin(), live);
  }
  return files;
}

}  // namespace

absl::StatusOr<std::vector<StreamFiles>> ListStreams(const std::string& wal_dir) {
  std::vector<StreamFiles> streams;
  std::error_code ec;
  if (!fs::exists(wal_dir, ec)) return streams;
  for (const fs::directory_entry& e : fs::directory_iterator(wal_dir, ec)) {
    if (!e.is_directory()) {
      return absl::FailedPreconditionError(
          absl::StrCat("unexpected file in the data dir: ", e.path().string()));
    }
    auto files = ListStream(e.path());
    if (!files.ok()) return files.status();
    streams.push_back(*std::move(files));
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list ", wal_dir, ": ", ec.message()));
  std::sort(streams.begin(), streams.end(),
            [](const StreamFiles& a, const StreamFiles& b) { return a.stream < b.stream; });
  return streams;
}

}  // namespace rametcd::wal
