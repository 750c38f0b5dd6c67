#include "support/kv_state.h"

#include <algorithm>
#include <chrono>
#include <string_view>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"

namespace rametcd::testing {
namespace {

constexpr int64_t kPageSize = 1000;

absl::StatusOr<etcdserverpb::RangeResponse> RangePage(etcdserverpb::KV::Stub& kv,
                                                      const std::string& from, int64_t revision) {
  etcdserverpb::RangeRequest req;
  req.set_key(from);
  req.set_range_end(std::string(1, '\0'));
  req.set_limit(kPageSize);
  req.set_revision(revision);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  etcdserverpb::RangeResponse resp;
  grpc::Status s = kv.Range(&ctx, req, &resp);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        absl::StrCat("Range at revision ", revision, ": ", s.error_message()));
  }
  return resp;
}

std::string Describe(const mvccpb::KeyValue& kv) {
  constexpr size_t kShownValueBytes = 40;
  const std::string_view value(kv.value());
  return absl::StrCat("{key \"", absl::CHexEscape(kv.key()), "\" create ", kv.create_revision(),
                      " mod ", kv.mod_revision(), " version ", kv.version(), " lease ", kv.lease(),
                      " value (", value.size(), " bytes) \"",
                      absl::CHexEscape(std::string(value.substr(0, kShownValueBytes))),
                      value.size() > kShownValueBytes ? "...\"}" : "\"}");
}

// The first key where the two lists differ, or "".
std::string DiffKeys(const std::vector<mvccpb::KeyValue>& want,
                     const std::vector<mvccpb::KeyValue>& got) {
  for (size_t i = 0; i < std::max(want.size(), got.size()); ++i) {
    if (i >= got.size()) return absl::StrCat("missing ", Describe(want[i]));
    if (i >= want.size()) return absl::StrCat("unexpected ", Describe(got[i]));
    const mvccpb::KeyValue& w = want[i];
    const mvccpb::KeyValue& g = got[i];
    if (w.key() != g.key()) {
      return w.key() < g.key() ? absl::StrCat("missing ", Describe(w))
                               : absl::StrCat("unexpected ", Describe(g));
    }
    if (w.value() != g.value() || w.create_revision() != g.create_revision() ||
        w.mod_revision() != g.mod_revision() || w.version() != g.version() ||
        w.lease() != g.lease()) {
      return absl::StrCat("want ", Describe(w), ", got ", Describe(g));
    }
  }
  return "";
}

}  // namespace

absl::StatusOr<KvState> ReadAllKeys(etcdserverpb::KV::Stub& kv, int64_t revision) {
  KvState state;
  state.revision = revision;
  std::string from(1, '\0');
  while (true) {
    absl::StatusOr<etcdserverpb::RangeResponse> page = RangePage(kv, from, state.revision);
    if (!page.ok()) return page.status();
    if (state.revision == 0) state.revision = page->header().revision();
    for (mvccpb::KeyValue& item : *page->mutable_kvs()) state.kvs.push_back(std::move(item));
    if (!page->more() || page->kvs().empty()) return state;
    from = state.kvs.back().key() + std::string(1, '\0');
  }
}

std::string DiffHistories(etcdserverpb::KV::Stub& want, etcdserverpb::KV::Stub& got,
                          int64_t from_revision) {
  absl::StatusOr<KvState> want_now = ReadAllKeys(want);
  absl::StatusOr<KvState> got_now = ReadAllKeys(got);
  if (!want_now.ok() || !got_now.ok()) {
    return absl::StrCat("current state: want: ", want_now.status().ToString(),
                        "; got: ", got_now.status().ToString());
  }
  if (want_now->revision != got_now->revision) {
    return absl::StrCat("current revision: want ", want_now->revision, ", got ", got_now->revision);
  }
  for (int64_t rev = std::max<int64_t>(from_revision, 1); rev <= want_now->revision; ++rev) {
    absl::StatusOr<KvState> w = ReadAllKeys(want, rev);
    absl::StatusOr<KvState> g = ReadAllKeys(got, rev);
    if (!w.ok() || !g.ok()) {
      return absl::StrCat("at revision ", rev, ": want: ", w.status().ToString(),
                          "; got: ", g.status().ToString());
    }
    if (std::string diff = DiffKeys(w->kvs, g->kvs); !diff.empty()) {
      return absl::StrCat("at revision ", rev, ": ", diff);
    }
  }
  return "";
}

}  // namespace rametcd::testing
