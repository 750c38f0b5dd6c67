#include "snapshot/etcd_backend.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/absl_view.h"
#include "base/status_macros.h"
#include "bbolt/reader.h"
#include "bbolt/writer.h"
#include "etcd/server/leasepb/lease.pb.h"

namespace rametcd::snapshot {
namespace {

// Bucket and key names, as etcd 3.4 spells them.
constexpr std::string_view kAlarmBucket = "alarm";
constexpr std::string_view kAuthBucket = "auth";
constexpr std::string_view kAuthRolesBucket = "authRoles";
constexpr std::string_view kAuthUsersBucket = "authUsers";
constexpr std::string_view kClusterBucket = "cluster";
constexpr std::string_view kKeyBucket = "key";
constexpr std::string_view kLeaseBucket = "lease";
constexpr std::string_view kMembersBucket = "members";
constexpr std::string_view kMembersRemovedBucket = "members_removed";
constexpr std::string_view kMetaBucket = "meta";

constexpr std::string_view kAuthRevisionKey = "authRevision";
constexpr std::string_view kClusterVersionKey = "clusterVersion";
constexpr std::string_view kConsistentIndexKey = "consistent_index";
constexpr std::string_view kFinishedCompactKey = "finishedCompactRev";
constexpr std::string_view kScheduledCompactKey = "scheduledCompactRev";

constexpr size_t kRevisionKeySize = 17;

void AppendBigEndian(uint64_t v, std::string* out) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t LoadBigEndian(std::string_view b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(b[i]);
  return v;
}

std::string BigEndian(uint64_t v) {
  std::string out;
  AppendBigEndian(v, &out);
  return out;
}

// A printable form of a binary key for error messages.
std::string Printable(std::string_view key) {
  std::string out;
  for (unsigned char c : key.substr(0, 64)) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    }
  }
  if (key.size() > 64) out.append("...");
  return out;
}

absl::Status BadEntry(std::string_view name, std::string_view bucket, std::string_view key,
                      std::string_view what) {
  return absl::DataLossError(absl::StrCat(AbslView(name), ": bucket \"", AbslView(bucket),
                                          "\" key \"", Printable(key), "\": ", AbslView(what)));
}

absl::Status WriteKeys(const EtcdBackend& backend, bbolt::Writer* w) {
  RETURN_IF_ERROR(w->StartBucket(kKeyBucket));
  std::string key, value;
  mvccpb::KeyValue tombstone;
  for (size_t i = 0; i < backend.keys.size(); ++i) {
    const EtcdBackend::KeyRecord& r = backend.keys[i];
    if (r.main <= 0 || r.sub < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("key record ", i, ": revision (", r.main, ", ", r.sub, ") is not valid"));
    }
    if (i > 0) {
      const EtcdBackend::KeyRecord& p = backend.keys[i - 1];
      if (std::pair(r.main, r.sub) <= std::pair(p.main, p.sub)) {
        return absl::InvalidArgumentError(absl::StrCat("key record ", i, ": revision (", r.main,
                                                       ", ", r.sub, ") does not follow (", p.main,
                                                       ", ", p.sub, ")"));
      }
    }
    if (!r.tombstone && r.kv.mod_revision() != r.main) {
      return absl::InvalidArgumentError(absl::StrCat("key record ", i, ": mod_revision ",
                                                     r.kv.mod_revision(), " is not its revision ",
                                                     r.main));
    }
    key = RevisionKey(r.main, r.sub, r.tombstone);
    if (r.tombstone) {
      tombstone.set_key(r.kv.key());
      tombstone.SerializeToString(&value);
    } else {
      r.kv.SerializeToString(&value);
    }
    RETURN_IF_ERROR(w->Put(key, value));
  }
  return absl::OkStatus();
}

absl::Status WriteLeases(const EtcdBackend& backend, bbolt::Writer* w) {
  RETURN_IF_ERROR(w->StartBucket(kLeaseBucket));
  // Keys are the IDs' big-endian bytes: sorted as unsigned numbers.
  std::vector<EtcdBackend::Lease> leases = backend.leases;
  std::sort(leases.begin(), leases.end(), [](const auto& a, const auto& b) {
    return static_cast<uint64_t>(a.id) < static_cast<uint64_t>(b.id);
  });
  std::string value;
  for (size_t i = 0; i < leases.size(); ++i) {
    if (i > 0 && leases[i].id == leases[i - 1].id) {
      return absl::InvalidArgumentError(absl::StrCat("lease ", leases[i].id, " appears twice"));
    }
    leasepb::Lease pb;
    pb.set_id(leases[i].id);
    pb.set_ttl(leases[i].ttl);
    pb.SerializeToString(&value);
    RETURN_IF_ERROR(w->Put(BigEndian(static_cast<uint64_t>(leases[i].id)), value));
  }
  return absl::OkStatus();
}

absl::Status WriteMembers(const EtcdBackend& backend, bbolt::Writer* w) {
  RETURN_IF_ERROR(w->StartBucket(kMembersBucket));
  // Keys are hex strings: sorted as strings, not as numbers.
  std::vector<std::pair<std::string, const EtcdBackend::Member*>> members;
  for (const EtcdBackend::Member& m : backend.members) members.emplace_back(MemberKey(m.id), &m);
  std::sort(members.begin(), members.end());
  for (size_t i = 0; i < members.size(); ++i) {
    if (i > 0 && members[i].first == members[i - 1].first) {
      return absl::InvalidArgumentError(
          absl::StrCat("member ", members[i].first, " appears twice"));
    }
    RETURN_IF_ERROR(w->Put(members[i].first, EncodeMemberJson(*members[i].second)));
  }
  return absl::OkStatus();
}

// Calls `fn` for every entry of `bucket`: etcd's buckets hold no nested buckets.
absl::Status ForEachEntry(const bbolt::Reader& reader, std::string_view name,
                          std::string_view bucket, bbolt::Reader::EntryFn fn) {
  return reader.ForEach(bucket, [&](const bbolt::Reader::Entry& e) {
    if (e.is_bucket) return BadEntry(name, bucket, e.key, "a nested bucket");
    return fn(e);
  });
}

absl::Status ReadKeys(const bbolt::Reader& reader, std::string_view name, EtcdBackend* out) {
  return ForEachEntry(reader, name, kKeyBucket, [&](const bbolt::Reader::Entry& e) {
    EtcdBackend::KeyRecord r;
    if (absl::Status s = ParseRevisionKey(e.key, &r.main, &r.sub, &r.tombstone); !s.ok()) {
      return BadEntry(name, kKeyBucket, e.key, std::string(s.message()));
    }
    if (!out->keys.empty()) {
      const EtcdBackend::KeyRecord& p = out->keys.back();
      if (std::pair(r.main, r.sub) <= std::pair(p.main, p.sub)) {
        return BadEntry(name, kKeyBucket, e.key, "a revision that repeats or goes back");
      }
    }
    if (!r.kv.ParseFromArray(e.value.data(), static_cast<int>(e.value.size()))) {
      return BadEntry(name, kKeyBucket, e.key, "value is not an mvccpb.KeyValue");
    }
    out->keys.push_back(std::move(r));
    return absl::OkStatus();
  });
}

absl::Status ReadMeta(const bbolt::Reader& reader, std::string_view name, EtcdBackend* out) {
  int64_t finished = 0, scheduled = 0;
  RETURN_IF_ERROR(ForEachEntry(reader, name, kMetaBucket, [&](const bbolt::Reader::Entry& e) {
    if (e.key == kConsistentIndexKey) {
      if (e.value.size() != 8) return BadEntry(name, kMetaBucket, e.key, "value is not 8 bytes");
      out->consistent_index = LoadBigEndian(e.value);
    } else if (e.key == kFinishedCompactKey || e.key == kScheduledCompactKey) {
      int64_t main, sub;
      bool tombstone;
      if (absl::Status s = ParseRevisionKey(e.value, &main, &sub, &tombstone);
          !s.ok() || tombstone) {
        return BadEntry(name, kMetaBucket, e.key, "value is not a revision");
      }
      (e.key == kFinishedCompactKey ? finished : scheduled) = main;
    }
    // Other entries (etcd 3.5 adds "term" and "confState") are not part of EtcdBackend.
    return absl::OkStatus();
  }));
  out->compacted_revision = std::max<int64_t>({0, finished, scheduled});
  return absl::OkStatus();
}

absl::Status ReadLeases(const bbolt::Reader& reader, std::string_view name, EtcdBackend* out) {
  return ForEachEntry(reader, name, kLeaseBucket, [&](const bbolt::Reader::Entry& e) {
    leasepb::Lease pb;
    if (e.key.size() != 8 || !pb.ParseFromArray(e.value.data(), static_cast<int>(e.value.size()))) {
      return BadEntry(name, kLeaseBucket, e.key, "not an 8-byte ID and a leasepb.Lease");
    }
    if (static_cast<uint64_t>(pb.id()) != LoadBigEndian(e.key)) {
      return BadEntry(name, kLeaseBucket, e.key, absl::StrCat("holds lease ", pb.id()));
    }
    out->leases.push_back({pb.id(), pb.ttl()});
    return absl::OkStatus();
  });
}

absl::Status ReadMembers(const bbolt::Reader& reader, std::string_view name, EtcdBackend* out) {
  return ForEachEntry(reader, name, kMembersBucket, [&](const bbolt::Reader::Entry& e) {
    absl::StatusOr<MemberRecord> m = DecodeMemberJson(e.value);
    if (!m.ok()) return BadEntry(name, kMembersBucket, e.key, std::string(m.status().message()));
    if (MemberKey(m->id) != e.key) {
      return BadEntry(name, kMembersBucket, e.key, absl::StrCat("holds member ", MemberKey(m->id)));
    }
    out->members.push_back(*std::move(m));
    return absl::OkStatus();
  });
}

absl::Status ReadCluster(const bbolt::Reader& reader, std::string_view name, EtcdBackend* out) {
  return ForEachEntry(reader, name, kClusterBucket, [&](const bbolt::Reader::Entry& e) {
    if (e.key == kClusterVersionKey) out->cluster_version = std::string(e.value);
    return absl::OkStatus();
  });
}

}  // namespace

std::string RevisionKey(int64_t main, int64_t sub, bool tombstone) {
  std::string key;
  key.reserve(kRevisionKeySize + 1);
  AppendBigEndian(static_cast<uint64_t>(main), &key);
  key.push_back('_');
  AppendBigEndian(static_cast<uint64_t>(sub), &key);
  if (tombstone) key.push_back('t');
  return key;
}

absl::Status ParseRevisionKey(std::string_view key, int64_t* main, int64_t* sub, bool* tombstone) {
  const bool is_tombstone = key.size() == kRevisionKeySize + 1 && key.back() == 't';
  if ((key.size() != kRevisionKeySize && !is_tombstone) || key[8] != '_') {
    return absl::DataLossError(
        absl::StrCat("not a revision (", key.size(), " bytes; want <main:8>_<sub:8>[t])"));
  }
  *main = static_cast<int64_t>(LoadBigEndian(key.substr(0, 8)));
  *sub = static_cast<int64_t>(LoadBigEndian(key.substr(9, 8)));
  *tombstone = is_tombstone;
  return absl::OkStatus();
}

absl::Status WriteEtcdBackend(const EtcdBackend& backend, const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<bbolt::Writer> w, bbolt::Writer::Create(path));
  RETURN_IF_ERROR(w->StartBucket(kAlarmBucket));
  RETURN_IF_ERROR(w->StartBucket(kAuthBucket));
  RETURN_IF_ERROR(w->Put(kAuthRevisionKey, BigEndian(1)));
  RETURN_IF_ERROR(w->StartBucket(kAuthRolesBucket));
  RETURN_IF_ERROR(w->StartBucket(kAuthUsersBucket));
  RETURN_IF_ERROR(w->StartBucket(kClusterBucket));
  if (!backend.cluster_version.empty()) {
    RETURN_IF_ERROR(w->Put(kClusterVersionKey, backend.cluster_version));
  }
  RETURN_IF_ERROR(WriteKeys(backend, w.get()));
  RETURN_IF_ERROR(WriteLeases(backend, w.get()));
  RETURN_IF_ERROR(WriteMembers(backend, w.get()));
  RETURN_IF_ERROR(w->StartBucket(kMembersRemovedBucket));
  RETURN_IF_ERROR(w->StartBucket(kMetaBucket));
  RETURN_IF_ERROR(w->Put(kConsistentIndexKey, BigEndian(backend.consistent_index)));
  if (backend.compacted_revision > 0) {
    const std::string rev = RevisionKey(backend.compacted_revision, 0, false);
    RETURN_IF_ERROR(w->Put(kFinishedCompactKey, rev));
    RETURN_IF_ERROR(w->Put(kScheduledCompactKey, rev));
  }
  return w->Finish();
}

absl::StatusOr<EtcdBackend> ReadEtcdBackend(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<bbolt::Reader> reader, bbolt::Reader::Open(path));
  return ReadEtcdBackend(*reader, path);
}

absl::StatusOr<EtcdBackend> ReadEtcdBackend(const bbolt::Reader& reader, std::string_view name) {
  for (std::string_view required : {kKeyBucket, kMetaBucket}) {
    ASSIGN_OR_RETURN(bool found, reader.HasBucket(required));
    if (!found) {
      return absl::DataLossError(absl::StrCat(AbslView(name), ": not an etcd backend: no \"",
                                              AbslView(required), "\" bucket"));
    }
  }
  EtcdBackend out;
  out.cluster_version.clear();
  RETURN_IF_ERROR(ReadKeys(reader, name, &out));
  RETURN_IF_ERROR(ReadMeta(reader, name, &out));
  for (auto [bucket, read] :
       {std::pair{kLeaseBucket, &ReadLeases}, std::pair{kMembersBucket, &ReadMembers},
        std::pair{kClusterBucket, &ReadCluster}}) {
    ASSIGN_OR_RETURN(bool found, reader.HasBucket(bucket));
    if (found) RETURN_IF_ERROR(read(reader, name, &out));
  }
  return out;
}

}  // namespace rametcd::snapshot
