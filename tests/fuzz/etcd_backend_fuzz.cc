// libFuzzer target: arbitrary bytes as an etcd backend file, read with bbolt::Reader::FromBytes
// and snapshot::ReadEtcdBackend. Errors must be DataLoss. When the read succeeds the backend is
// written with WriteEtcdBackend to a temp file (on /dev/shm when there is one) and read back; the
// records must be equal. WriteEtcdBackend may refuse (InvalidArgument) what it would not write
// itself: revisions that are not positive or a mod_revision that is not the record's revision.
// Each input is read a second time with its meta checksums made valid (fuzz_support.h).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "bbolt/reader.h"
#include "fuzz_support.h"
#include "snapshot/etcd_backend.h"

namespace rametcd::snapshot {
namespace {

using fuzz::Require;
using fuzz::RequireOkOrDataLoss;

const std::string& TempPath() {
  static const std::string path = [] {
    const std::filesystem::path dir = std::filesystem::is_directory("/dev/shm")
                                          ? std::filesystem::path("/dev/shm")
                                          : std::filesystem::temp_directory_path();
    return (dir / absl::StrCat("rametcd-etcd-backend-fuzz-", getpid(), ".db")).string();
  }();
  return path;
}

// A member as its JSON after one write and read: Go's encoding (and ours) turns invalid UTF-8 in a
// string into the escape \ufffd, which reads back as the valid U+FFFD that is then written raw.
std::string MemberText(const EtcdBackend::Member& m) {
  absl::StatusOr<MemberRecord> read = DecodeMemberJson(EncodeMemberJson(m));
  Require(read.ok(), "DecodeMemberJson(EncodeMemberJson(m))", read.status());
  return absl::CEscape(EncodeMemberJson(*read));
}

// Everything a backend holds, as text: equal texts mean equal records. A tombstone's KeyValue is
// only its key (all WriteEtcdBackend stores).
std::string Describe(const EtcdBackend& b) {
  std::string out = absl::StrCat("compacted ", b.compacted_revision, " index ", b.consistent_index,
                                 " cluster ", absl::CEscape(b.cluster_version), "\n");
  for (const EtcdBackend::KeyRecord& r : b.keys) {
    absl::StrAppend(&out, "key ", r.main, "_", r.sub, r.tombstone ? "t " : " ",
                    absl::CEscape(r.tombstone ? r.kv.key() : r.kv.SerializeAsString()), "\n");
  }
  for (const EtcdBackend::Lease& l : b.leases)
    absl::StrAppend(&out, "lease ", l.id, " ", l.ttl, "\n");
  for (const EtcdBackend::Member& m : b.members) {
    absl::StrAppend(&out, "member ", MemberText(m), "\n");
  }
  return out;
}

void RoundTrip(const EtcdBackend& backend) {
  const absl::Status written = WriteEtcdBackend(backend, TempPath());
  if (!written.ok()) {
    std::filesystem::remove(TempPath());
    Require(written.code() == absl::StatusCode::kInvalidArgument, "WriteEtcdBackend", written);
    return;
  }
  absl::StatusOr<EtcdBackend> again = ReadEtcdBackend(TempPath());
  std::filesystem::remove(TempPath());
  Require(again.ok(), "reading back what WriteEtcdBackend wrote", again.status());
  const std::string want = Describe(backend), got = Describe(*again);
  Require(want == got,
          absl::StrCat("the records read back differ:\nwrote:\n", want, "read:\n", got));
}

void ReadAll(std::string bytes) {
  absl::StatusOr<std::unique_ptr<bbolt::Reader>> reader =
      bbolt::Reader::FromBytes(std::move(bytes), "fuzz.db");
  if (!reader.ok()) return RequireOkOrDataLoss(reader.status(), "Reader::FromBytes");
  absl::StatusOr<EtcdBackend> backend = ReadEtcdBackend(**reader, "fuzz.db");
  if (!backend.ok()) return RequireOkOrDataLoss(backend.status(), "ReadEtcdBackend");
  RoundTrip(*backend);
}

}  // namespace
}  // namespace rametcd::snapshot

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  rametcd::snapshot::ReadAll(bytes);
  if (rametcd::fuzz::FixMetaChecksums(&bytes)) rametcd::snapshot::ReadAll(std::move(bytes));
  return 0;
}
