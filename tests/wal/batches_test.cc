// Unit tests of the whole-batch check (wal/batches.h): which batch a crash left incomplete, and
// where each stream is cut so that only the batches before it stay.
#include "wal/batches.h"

#include <initializer_list>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rametcd::wal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Builds one stream's logs record by record; offsets count up by 100 per record in segment 1.
class StreamBuilder {
 public:
  explicit StreamBuilder(std::string stream) : batches_(std::move(stream)) {}
  StreamBuilder& Txn(int64_t revision) {
    Record r;
    r.mutable_txn()->set_revision(revision);
    return Add(r);
  }
  StreamBuilder& End(uint64_t batch, std::initializer_list<std::string> streams = {}) {
    Record r;
    r.mutable_batch_end()->set_batch(batch);
    for (const std::string& s : streams) r.mutable_batch_end()->add_streams(s);
    return Add(r);
  }
  StreamBuilder& Checkpoint(uint64_t batch) {
    StreamRead read;
    read.checkpoint_batch = batch;
    batches_.SetRead(read, true);
    return *this;
  }
  StreamBuilder& NoFiles() {
    batches_.SetRead(StreamRead{}, false);
    return *this;
  }
  StreamBatches Build() const { return batches_; }

 private:
  StreamBuilder& Add(const Record& r) {
    batches_.Add({false, 1, offset_}, r);
    offset_ += 100;
    return *this;
  }
  StreamBatches batches_;
  uint64_t offset_ = 0;
};

std::optional<LogPlace> At(uint64_t offset) { return LogPlace{1, offset}; }

TEST(BatchesTest, WholeBatchesAreKept) {
  const BatchCuts cuts = CutIncompleteBatches({
      StreamBuilder("a").Txn(2).End(1, {"a", "b"}).Txn(4).End(3).Build(),
      StreamBuilder("b").Txn(3).End(1, {"a", "b"}).Txn(5).End(4).Build(),
  });
  EXPECT_EQ(cuts.batch, 0u);
  EXPECT_TRUE(cuts.findings.empty());
  EXPECT_THAT(cuts.at, ElementsAre(std::nullopt, std::nullopt));
  EXPECT_EQ(cuts.last_batch, 4u);
}

// The bug this exists for: batch 2 wrote revision 4 to b and revision 5 to a, and only a's part
// reached its file. Keeping it would keep revision 5 without revision 4; batch 3, after it, goes
// too, though it is whole.
TEST(BatchesTest, ABatchWithAPartMissingIsCutEverywhereWithWhatFollows) {
  const BatchCuts cuts = CutIncompleteBatches({
      StreamBuilder("a").Txn(2).End(1, {"a", "b"}).Txn(5).End(2, {"a", "b"}).Build(),
      StreamBuilder("b").Txn(3).End(1, {"a", "b"}).Build(),
      StreamBuilder("c").Txn(6).End(3).Build(),
  });
  EXPECT_EQ(cuts.batch, 2u);
  ASSERT_EQ(cuts.findings.size(), 1u);
  EXPECT_THAT(cuts.findings[0], HasSubstr("batch 2 (stream \"a\" segment 1 offset 200) misses "
                                          "its part in stream \"b\""));
  EXPECT_THAT(cuts.at, ElementsAre(At(200), std::nullopt, At(0)));
  EXPECT_EQ(cuts.last_batch, 1u);
}

// A part whose end was never written is cut, and so are the other parts of its batch: they
// name its stream, which has no end for the batch.
TEST(BatchesTest, APartWithoutItsEndIsCutWithTheRestOfItsBatch) {
  const BatchCuts cuts = CutIncompleteBatches({
      StreamBuilder("a").Txn(2).End(1).Txn(3).Txn(4).Build(),
      StreamBuilder("b").Txn(5).End(2, {"a", "b"}).Build(),
  });
  EXPECT_EQ(cuts.batch, 2u);
  EXPECT_EQ(cuts.findings.size(), 2u);
  EXPECT_THAT(cuts.at, ElementsAre(At(200), At(0)));
  EXPECT_EQ(cuts.last_batch, 1u);
}

TEST(BatchesTest, APartInTheStreamsCheckpointIsPresent) {
  const BatchCuts cuts = CutIncompleteBatches({
      StreamBuilder("a").Txn(3).End(4, {"a", "b"}).Build(),
      StreamBuilder("b").Checkpoint(4).Build(),
  });
  EXPECT_TRUE(cuts.findings.empty());
  EXPECT_THAT(cuts.at, ElementsAre(std::nullopt, std::nullopt));
  EXPECT_EQ(cuts.last_batch, 4u);
  // One batch older than the checkpoint: b's part of batch 5 is missing.
  EXPECT_EQ(CutIncompleteBatches({StreamBuilder("a").Txn(3).End(5, {"a", "b"}).Build(),
                                  StreamBuilder("b").Checkpoint(4).Build()})
                .batch,
            5u);
}

// A stream without files, or none at all, cannot be checked: its prefix was switched to mode
// none (its files deleted), and maybe back.
TEST(BatchesTest, AStreamWithoutFilesIsNotLookedFor) {
  const BatchCuts cuts = CutIncompleteBatches({
      StreamBuilder("a").Txn(3).End(1, {"a", "b", "c"}).Build(),
      StreamBuilder("b").NoFiles().Build(),
  });
  EXPECT_TRUE(cuts.findings.empty());
  EXPECT_EQ(cuts.last_batch, 1u);
}

}  // namespace
}  // namespace rametcd::wal
