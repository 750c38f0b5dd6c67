#include "snapshot/member_json.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/absl_view.h"
#include "base/json_string.h"
#include "base/status_macros.h"

namespace rametcd::snapshot {
namespace {

constexpr int kMaxDepth = 32;

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

void AppendStringArray(const std::vector<std::string>& v, std::string* out) {
  if (v.empty()) {
    out->append("null");  // Go marshals a nil slice as null
    return;
  }
  out->push_back('[');
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(v[i], out);
  }
  out->push_back(']');
}

// A small recursive-descent JSON reader for one member object. Every read is bounds-checked and
// nesting is limited, so any input ends in a value or an error.
class Parser {
 public:
  explicit Parser(std::string_view in) : in_(in) {}

  absl::StatusOr<MemberRecord> Member() {
    MemberRecord m;
    bool has_id = false;
    SkipSpace();
    if (!Consume('{')) return Error("expected an object");
    SkipSpace();
    if (!Consume('}')) {
      while (true) {
        SkipSpace();
        std::string field;
        RETURN_IF_ERROR(String(&field));
        SkipSpace();
        if (!Consume(':')) return Error("expected ':'");
        SkipSpace();
        if (field == "id") {
          RETURN_IF_ERROR(Uint64(&m.id));
          has_id = true;
        } else if (field == "name") {
          RETURN_IF_ERROR(StringOrNull(&m.name));
        } else if (field == "peerURLs") {
          RETURN_IF_ERROR(StringArray(&m.peer_urls));
        } else if (field == "clientURLs") {
          RETURN_IF_ERROR(StringArray(&m.client_urls));
        } else if (field == "isLearner") {
          RETURN_IF_ERROR(Bool(&m.is_learner));
        } else {
          RETURN_IF_ERROR(SkipValue(1));
        }
        SkipSpace();
        if (Consume('}')) break;
        if (!Consume(',')) return Error("expected ',' or '}'");
      }
    }
    SkipSpace();
    if (pos_ != in_.size()) return Error("unexpected bytes after the object");
    if (!has_id) return Error("no \"id\"");
    return m;
  }

 private:
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("member JSON at byte ", pos_, ": ", AbslView(what)));
  }
  bool AtEnd() const { return pos_ >= in_.size(); }
  char Peek() const { return in_[pos_]; }
  void SkipSpace() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' || Peek() == '\r')) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    if (AtEnd() || Peek() != c) return false;
    ++pos_;
    return true;
  }
  bool Literal(std::string_view lit) {
    if (in_.substr(pos_, lit.size()) != lit) return false;
    pos_ += lit.size();
    return true;
  }

  absl::Status Hex4(uint32_t* v) {
    if (in_.size() - pos_ < 4) return Error("short \\u escape");
    *v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = in_[pos_++];
      uint32_t d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        d = c - 'A' + 10;
      } else {
        return Error("bad \\u escape");
      }
      *v = (*v << 4) | d;
    }
    return absl::OkStatus();
  }

  absl::Status String(std::string* out) {
    out->clear();
    if (!Consume('"')) return Error("expected a string");
    while (true) {
      if (AtEnd()) return Error("unterminated string");
      const char c = in_[pos_++];
      if (c == '"') return absl::OkStatus();
      if (static_cast<unsigned char>(c) < 0x20) return Error("control character in a string");
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (AtEnd()) return Error("unterminated escape");
      const char e = in_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out->push_back(e);
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp = 0;
          RETURN_IF_ERROR(Hex4(&cp));
          if (cp >= 0xD800 && cp <= 0xDBFF && in_.substr(pos_, 2) == "\\u") {
            const size_t save = pos_;
            pos_ += 2;
            uint32_t low = 0;
            RETURN_IF_ERROR(Hex4(&low));
            if (low >= 0xDC00 && low <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else {
              pos_ = save;  // a lone high surrogate; the next escape stands on its own
            }
          }
          if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // lone surrogate, as Go decodes it
          AppendUtf8(cp, out);
          break;
        }
        default:
          return Error("bad escape");
      }
    }
  }

  absl::Status StringOrNull(std::string* out) {
    if (Literal("null")) {
      out->clear();
      return absl::OkStatus();
    }
    return String(out);
  }

  absl::Status StringArray(std::vector<std::string>* out) {
    out->clear();
    if (Literal("null")) return absl::OkStatus();
    if (!Consume('[')) return Error("expected an array of strings");
    SkipSpace();
    if (Consume(']')) return absl::OkStatus();
    while (true) {
      SkipSpace();
      out->emplace_back();
      RETURN_IF_ERROR(String(&out->back()));
      SkipSpace();
      if (Consume(']')) return absl::OkStatus();
      if (!Consume(',')) return Error("expected ',' or ']'");
    }
  }

  absl::Status Bool(bool* out) {
    if (Literal("true")) {
      *out = true;
    } else if (Literal("false") || Literal("null")) {
      *out = false;
    } else {
      return Error("expected true or false");
    }
    return absl::OkStatus();
  }

  absl::Status Uint64(uint64_t* out) {
    const size_t start = pos_;
    uint64_t v = 0;
    while (!AtEnd() && Peek() >= '0' && Peek() <= '9') {
      const uint64_t d = static_cast<uint64_t>(Peek() - '0');
      if (v > (~uint64_t{0} - d) / 10) return Error("number does not fit in 64 bits");
      v = v * 10 + d;
      ++pos_;
    }
    if (pos_ == start) return Error("expected an unsigned integer");
    if (pos_ - start > 1 && in_[start] == '0') return Error("leading zero in a number");
    if (!AtEnd() && (Peek() == '.' || Peek() == 'e' || Peek() == 'E')) {
      return Error("expected an integer");
    }
    *out = v;
    return absl::OkStatus();
  }

  // Any JSON number.
  absl::Status Number() {
    const size_t start = pos_;
    Consume('-');
    const auto digits = [&] {
      const size_t from = pos_;
      while (!AtEnd() && Peek() >= '0' && Peek() <= '9') ++pos_;
      return pos_ > from;
    };
    if (!digits()) return Error("bad number");
    if (Consume('.') && !digits()) return Error("bad number");
    if (Consume('e') || Consume('E')) {
      if (!Consume('+')) Consume('-');
      if (!digits()) return Error("bad number");
    }
    return pos_ > start ? absl::OkStatus() : Error("bad number");
  }

  absl::Status SkipValue(int depth) {
    if (depth > kMaxDepth) return Error("nested too deeply");
    SkipSpace();
    if (AtEnd()) return Error("expected a value");
    std::string ignored;
    switch (Peek()) {
      case '"':
        return String(&ignored);
      case '{':
      case '[': {
        const bool object = Peek() == '{';
        const char close = object ? '}' : ']';
        ++pos_;
        SkipSpace();
        if (Consume(close)) return absl::OkStatus();
        while (true) {
          SkipSpace();
          if (object) {
            RETURN_IF_ERROR(String(&ignored));
            SkipSpace();
            if (!Consume(':')) return Error("expected ':'");
          }
          RETURN_IF_ERROR(SkipValue(depth + 1));
          SkipSpace();
          if (Consume(close)) return absl::OkStatus();
          if (!Consume(',')) return Error("expected ','");
        }
      }
      default:
        if (Literal("true") || Literal("false") || Literal("null")) return absl::OkStatus();
        return Number();
    }
  }

  std::string_view in_;
  size_t pos_ = 0;
};

}  // namespace

std::string MemberKey(uint64_t id) { return absl::StrFormat("%x", id); }

std::string EncodeMemberJson(const MemberRecord& member) {
  std::string out = absl::StrCat("{\"id\":", member.id, ",\"peerURLs\":");
  AppendStringArray(member.peer_urls, &out);
  if (member.is_learner) out.append(",\"isLearner\":true");
  if (!member.name.empty()) {
    out.append(",\"name\":");
    AppendJsonString(member.name, &out);
  }
  if (!member.client_urls.empty()) {
    out.append(",\"clientURLs\":");
    AppendStringArray(member.client_urls, &out);
  }
  out.push_back('}');
  return out;
}

absl::StatusOr<MemberRecord> DecodeMemberJson(std::string_view json) {
  return Parser(json).Member();
}

}  // namespace rametcd::snapshot
