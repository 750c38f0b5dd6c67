// Unit tests of the stream-file byte layout (wal/frame.h) and CRC32C (base/crc32c.h): file header
// round trips and damage, record framing, and the scanner's rule that tells a torn tail (cut off
// by a crash) from corruption in the middle of a file, tried at every byte of a record.
#include "wal/frame.h"

#include <string>
#include <string_view>
#include <vector>

#include "base/crc32c.h"
#include "gtest/gtest.h"

namespace rametcd::wal {
namespace {

// --- CRC32C ---

TEST(Crc32cTest, CheckValue) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>(i * 7 + 3));
  const uint32_t whole = Crc32c(data);
  for (size_t cut : {size_t{0}, size_t{1}, size_t{7}, size_t{64}, size_t{500}, data.size()}) {
    std::string_view all(data);
    EXPECT_EQ(Crc32cExtend(Crc32c(all.substr(0, cut)), all.substr(cut)), whole) << cut;
  }
  EXPECT_EQ(Crc32cExtend(Crc32c("1234"), "56789"), 0xE3069283u);
}

// --- File header ---

TEST(FileHeaderTest, RoundTrip) {
  for (const FileHeader& in :
       {FileHeader{FileKind::kLog, 0, ""}, FileHeader{FileKind::kLog, 1, "/registry/pods/"},
        FileHeader{FileKind::kCheckpoint, 0xfedcba9876543210ull, "_meta"},
        FileHeader{FileKind::kCheckpoint, 42, std::string(4096, 'n')}}) {
    std::string data = "prefix";
    AppendFileHeader(in, &data);
    const size_t header_bytes = data.size() - 6;
    data += "trailing record bytes";
    FileHeader out;
    auto size = ParseFileHeader(std::string_view(data).substr(6), &out);
    ASSERT_TRUE(size.ok()) << size.status();
    EXPECT_EQ(*size, header_bytes);
    EXPECT_EQ(*size, 8 + 4 + 4 + 8 + 4 + in.stream.size() + 4);
    EXPECT_EQ(out.kind, in.kind);
    EXPECT_EQ(out.seq, in.seq);
    EXPECT_EQ(out.stream, in.stream);
  }
}

TEST(FileHeaderTest, LayoutIsLittleEndian) {
  std::string data;
  AppendFileHeader({FileKind::kCheckpoint, 0x0102030405060708ull, "ab"}, &data);
  ASSERT_EQ(data.size(), 34u);
  EXPECT_EQ(data.substr(0, 8), "RAMETCDW");
  EXPECT_EQ(data.substr(8, 4), std::string("\x02\0\0\0", 4));   // version
  EXPECT_EQ(data.substr(12, 4), std::string("\x02\0\0\0", 4));  // kind
  EXPECT_EQ(data.substr(16, 8), "\x08\x07\x06\x05\x04\x03\x02\x01");
  EXPECT_EQ(data.substr(24, 4), std::string("\x02\0\0\0", 4));  // name length
  EXPECT_EQ(data.substr(28, 2), "ab");
}

void ExpectDataLoss(std::string_view data, std::string_view what) {
  FileHeader out;
  auto size = ParseFileHeader(data, &out);
  EXPECT_EQ(size.status().code(), absl::StatusCode::kDataLoss) << what;
}

TEST(FileHeaderTest, TruncatedIsDataLoss) {
  std::string data;
  AppendFileHeader({FileKind::kLog, 7, "/registry/pods/"}, &data);
  for (size_t n = 0; n < data.size(); ++n)
    ExpectDataLoss(data.substr(0, n), "cut at " + std::to_string(n));
}

TEST(FileHeaderTest, EveryFlippedByteIsDataLoss) {
  std::string good;
  AppendFileHeader({FileKind::kLog, 7, "/registry/pods/"}, &good);
  for (size_t i = 0; i < good.size(); ++i) {
    for (unsigned char mask : {0x01, 0x80, 0xff}) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      ExpectDataLoss(bad, "byte " + std::to_string(i));
    }
  }
}

// A header with a field changed and its checksum recomputed, so that only the field is wrong.
std::string Resealed(std::string header, size_t at, std::string_view bytes) {
  header.replace(at, bytes.size(), bytes);
  header.resize(header.size() - 4);
  const uint32_t crc = Crc32c(header);
  for (int i = 0; i < 4; ++i) header.push_back(static_cast<char>(crc >> (8 * i)));
  return header;
}

TEST(FileHeaderTest, BadFieldsWithValidChecksum) {
  std::string good;
  AppendFileHeader({FileKind::kLog, 7, "s"}, &good);
  FileHeader out;
  ASSERT_TRUE(ParseFileHeader(Resealed(good, 16, "\x09"), &out).ok());  // seq changed only
  EXPECT_EQ(out.seq, 9u);
  ExpectDataLoss(Resealed(good, 0, "RAMETCDX"), "magic");
  ExpectDataLoss(Resealed(good, 8, std::string("\x03\0\0\0", 4)), "version 3");
  // Format 1 (no batch ends) is refused, saying how to move its data.
  auto v1 = ParseFileHeader(Resealed(good, 8, std::string("\x01\0\0\0", 4)), &out);
  EXPECT_EQ(v1.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(
      v1.status().message().find("unsupported format version 1 (this rametcd reads version 2"),
      std::string::npos)
      << v1.status();
  ExpectDataLoss(Resealed(good, 8, std::string("\0\0\0\0", 4)), "version 0");
  ExpectDataLoss(Resealed(good, 12, std::string("\0\0\0\0", 4)), "kind 0");
  ExpectDataLoss(Resealed(good, 12, std::string("\x03\0\0\0", 4)), "kind 3");
  // A name length beyond the data, or absurdly large.
  ExpectDataLoss(Resealed(good, 24, std::string("\x20\0\0\0", 4)), "name length 32");
  ExpectDataLoss(Resealed(good, 24, std::string("\xff\xff\xff\xff", 4)), "name length 2^32-1");
}

// --- Framing and scanning ---

std::string Payload(int i) {
  // Varied lengths, including 1 byte and lengths above 255 (multi-byte length field).
  const size_t length = 1 + (i * 37) % 300;
  std::string p;
  for (size_t j = 0; j < length; ++j) p.push_back(static_cast<char>('a' + (i + j) % 26));
  return p;
}

struct Built {
  std::string data;
  size_t start = 0;               // end of the leading junk standing in for a file header
  std::vector<uint64_t> offsets;  // of each record, plus the end of the last one
  std::vector<std::string> payloads;
};

Built Build(int records) {
  Built b;
  b.data = "HEADER";
  b.start = b.data.size();
  for (int i = 0; i < records; ++i) {
    b.offsets.push_back(b.data.size());
    b.payloads.push_back(Payload(i));
    AppendFrame(b.payloads.back(), &b.data);
  }
  b.offsets.push_back(b.data.size());
  return b;
}

// Scans `data` from `start` until the scanner stops; returns the payloads read.
std::vector<std::string> ScanAll(FrameScanner& scanner, std::vector<uint64_t>* offsets = nullptr) {
  std::vector<std::string> out;
  std::string_view payload;
  uint64_t offset = 0;
  while (scanner.Next(&payload, &offset)) {
    out.emplace_back(payload);
    if (offsets != nullptr) offsets->push_back(offset);
  }
  return out;
}

TEST(FrameTest, FrameLayout) {
  std::string data;
  AppendFrame("hello", &data);
  ASSERT_EQ(data.size(), kFrameHeaderBytes + 5);
  EXPECT_EQ(data.substr(0, 4), std::string("\x05\0\0\0", 4));
  const uint32_t payload_crc = Crc32c("hello");
  const uint32_t frame_crc = Crc32c(std::string_view(data).substr(0, 8));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(static_cast<unsigned char>(data[4 + i]), (payload_crc >> (8 * i)) & 0xff);
    EXPECT_EQ(static_cast<unsigned char>(data[8 + i]), (frame_crc >> (8 * i)) & 0xff);
  }
  EXPECT_EQ(data.substr(12), "hello");
}

TEST(FrameTest, FillFrameHeaderMatchesAppendFrame) {
  std::string direct = "xy";
  AppendFrame("payload bytes", &direct);
  std::string filled = "xy";
  filled.resize(filled.size() + kFrameHeaderBytes);
  const size_t payload_offset = filled.size();
  filled += "payload bytes";
  FillFrameHeader(payload_offset, &filled);
  EXPECT_EQ(filled, direct);
}

TEST(FrameTest, RoundTripManyRecords) {
  const Built b = Build(500);
  FrameScanner scanner(b.data, b.start);
  std::vector<uint64_t> offsets;
  EXPECT_EQ(ScanAll(scanner, &offsets), b.payloads);
  EXPECT_EQ(offsets, std::vector<uint64_t>(b.offsets.begin(), b.offsets.end() - 1));
  EXPECT_FALSE(scanner.damage().has_value());
  std::string_view payload;
  uint64_t offset = 0;
  EXPECT_FALSE(scanner.Next(&payload, &offset));  // stays at the end
}

TEST(FrameTest, EmptyDataEndsCleanly) {
  FrameScanner scanner("HEADER", 6);
  EXPECT_TRUE(ScanAll(scanner).empty());
  EXPECT_FALSE(scanner.damage().has_value());
}

TEST(FrameTest, TornTailAtEveryCut) {
  const Built b = Build(6);
  const uint64_t last = b.offsets[5];
  for (uint64_t cut = last; cut <= b.data.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    const std::string_view data = std::string_view(b.data).substr(0, cut);
    FrameScanner scanner(data, b.start);
    const std::vector<std::string> got = ScanAll(scanner);
    if (cut == last || cut == b.data.size()) {
      // Cut exactly at a record boundary: a clean end.
      EXPECT_EQ(got.size(), cut == last ? 5u : 6u);
      EXPECT_FALSE(scanner.damage().has_value());
      continue;
    }
    EXPECT_EQ(got, std::vector<std::string>(b.payloads.begin(), b.payloads.begin() + 5));
    ASSERT_TRUE(scanner.damage().has_value());
    EXPECT_TRUE(scanner.damage()->torn);
    EXPECT_EQ(scanner.damage()->offset, last);
    EXPECT_EQ(scanner.damage()->resume, cut);
    EXPECT_FALSE(scanner.damage()->reason.empty());
  }
}

TEST(FrameTest, ZeroFilledTailIsTorn) {
  // What a file system can leave after a crash: the file grew, the data never arrived.
  for (size_t zeros : {size_t{1}, size_t{11}, size_t{12}, size_t{13}, size_t{4096}}) {
    Built b = Build(4);
    b.data.append(zeros, '\0');
    FrameScanner scanner(b.data, b.start);
    EXPECT_EQ(ScanAll(scanner), b.payloads);
    ASSERT_TRUE(scanner.damage().has_value()) << zeros;
    EXPECT_TRUE(scanner.damage()->torn);
    EXPECT_EQ(scanner.damage()->offset, b.offsets[4]);
    EXPECT_EQ(scanner.damage()->resume, b.data.size());
  }
}

TEST(FrameTest, FlippedByteInMiddleRecordIsCorruption) {
  const Built b = Build(8);
  const int victim = 3;
  const uint64_t begin = b.offsets[victim];
  const uint64_t end = b.offsets[victim + 1];
  ASSERT_GT(end - begin, kFrameHeaderBytes + 1);
  for (uint64_t at = begin; at < end; ++at) {
    SCOPED_TRACE("flipped byte at " + std::to_string(at));
    std::string data = b.data;
    data[at] = static_cast<char>(data[at] ^ 0x10);
    FrameScanner scanner(data, b.start);
    EXPECT_EQ(ScanAll(scanner),
              std::vector<std::string>(b.payloads.begin(), b.payloads.begin() + victim));
    ASSERT_TRUE(scanner.damage().has_value());
    EXPECT_FALSE(scanner.damage()->torn);
    EXPECT_EQ(scanner.damage()->offset, begin);
    EXPECT_EQ(scanner.damage()->resume, end);
    // Next() keeps failing until the damage is skipped.
    std::string_view payload;
    uint64_t offset = 0;
    EXPECT_FALSE(scanner.Next(&payload, &offset));
    scanner.SkipDamage();
    EXPECT_FALSE(scanner.damage().has_value());
    std::vector<uint64_t> offsets;
    EXPECT_EQ(ScanAll(scanner, &offsets),
              std::vector<std::string>(b.payloads.begin() + victim + 1, b.payloads.end()));
    EXPECT_EQ(offsets.front(), end);
    EXPECT_FALSE(scanner.damage().has_value());
  }
}

TEST(FrameTest, SkipDamageOverSeveralCorruptRegions) {
  Built b = Build(10);
  for (int victim : {1, 2, 6}) b.data[b.offsets[victim] + kFrameHeaderBytes] ^= 0x01;
  FrameScanner scanner(b.data, b.start);
  std::vector<std::string> got;
  std::vector<uint64_t> damage_at;
  while (true) {
    std::vector<std::string> part = ScanAll(scanner);
    got.insert(got.end(), part.begin(), part.end());
    if (!scanner.damage()) break;
    EXPECT_FALSE(scanner.damage()->torn);
    damage_at.push_back(scanner.damage()->offset);
    scanner.SkipDamage();
  }
  // Adjacent damaged records 1 and 2 form one region.
  EXPECT_EQ(damage_at, (std::vector<uint64_t>{b.offsets[1], b.offsets[6]}));
  std::vector<std::string> want;
  for (int i : {0, 3, 4, 5, 7, 8, 9}) want.push_back(b.payloads[i]);
  EXPECT_EQ(got, want);
}

TEST(FrameTest, FlippedByteInLastRecordIsTorn) {
  const Built b = Build(5);
  const uint64_t begin = b.offsets[4];
  for (uint64_t at = begin; at < b.data.size(); ++at) {
    SCOPED_TRACE("flipped byte at " + std::to_string(at));
    std::string data = b.data;
    data[at] = static_cast<char>(data[at] ^ 0x40);
    FrameScanner scanner(data, b.start);
    EXPECT_EQ(ScanAll(scanner).size(), 4u);
    ASSERT_TRUE(scanner.damage().has_value());
    EXPECT_TRUE(scanner.damage()->torn);
    EXPECT_EQ(scanner.damage()->offset, begin);
    EXPECT_EQ(scanner.damage()->resume, data.size());
  }
}

// A frame header with the given length and a valid frame crc.
std::string FrameHeaderWithLength(uint32_t length, uint32_t payload_crc) {
  std::string h;
  for (uint32_t v : {length, payload_crc}) {
    for (int i = 0; i < 4; ++i) h.push_back(static_cast<char>(v >> (8 * i)));
  }
  const uint32_t crc = Crc32c(h);
  for (int i = 0; i < 4; ++i) h.push_back(static_cast<char>(crc >> (8 * i)));
  return h;
}

TEST(FrameTest, InvalidLengths) {
  {
    Built b = Build(2);
    b.data += FrameHeaderWithLength(0, 0);
    FrameScanner scanner(b.data, b.start);
    EXPECT_EQ(ScanAll(scanner).size(), 2u);
    ASSERT_TRUE(scanner.damage().has_value());
    EXPECT_EQ(scanner.damage()->offset, b.offsets[2]);
    EXPECT_EQ(scanner.damage()->reason, "invalid record length 0");
  }
  {
    // An over-long length followed by good records: corruption, resumed at the next record.
    std::string data = "H" + FrameHeaderWithLength(kMaxPayloadBytes + 1, 0);
    const size_t next = data.size();
    AppendFrame("after", &data);
    FrameScanner scanner(data, 1);
    EXPECT_TRUE(ScanAll(scanner).empty());
    ASSERT_TRUE(scanner.damage().has_value());
    EXPECT_FALSE(scanner.damage()->torn);
    EXPECT_EQ(scanner.damage()->offset, 1u);
    EXPECT_EQ(scanner.damage()->resume, next);
    EXPECT_NE(scanner.damage()->reason.find("invalid record length"), std::string::npos);
    scanner.SkipDamage();
    EXPECT_EQ(ScanAll(scanner), std::vector<std::string>{"after"});
  }
  {
    // A length past the end of the data, with a trusted frame header.
    std::string data = "H" + FrameHeaderWithLength(100, 0) + "short";
    FrameScanner scanner(data, 1);
    EXPECT_TRUE(ScanAll(scanner).empty());
    ASSERT_TRUE(scanner.damage().has_value());
    EXPECT_TRUE(scanner.damage()->torn);
    EXPECT_NE(scanner.damage()->reason.find("runs past the end"), std::string::npos);
  }
}

}  // namespace
}  // namespace rametcd::wal
