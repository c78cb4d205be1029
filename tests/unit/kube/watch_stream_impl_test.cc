#include "controller/kube/watch_stream_impl.h"

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <cpprest/producerconsumerstream.h>

#include "tests/testing/status_matchers.h"

namespace registrar::kube {
namespace {

using ::registrar::testing::IsOk;
using ::registrar::testing::IsOkAndHolds;
using ::registrar::testing::StatusIs;
using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Optional;

// A watch answer whose body the test writes, as cpprest's client writes the chunks it reads.
class WatchStreamTest : public ::testing::Test {
 protected:
  std::unique_ptr<WatchStream> Open(milliseconds idle = milliseconds(5000)) {
    web::http::http_response response(200);
    response.set_body(body_.create_istream(), "application/json");
    cancel_ = std::make_shared<pplx::cancellation_token_source>();
    return NewWatchStream("watch /x", response, cancel_, idle, RealClock::Get());
  }
  // Ends the body, so that a getc() left waiting by a test completes.
  void TearDown() override { body_.close(std::ios_base::out).wait(); }
  void Write(const std::string& bytes) {
    body_.putn_nocopy(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()).wait();
  }
  void End() { body_.close(std::ios_base::out).wait(); }
  void Break() {
    body_.close(std::ios_base::out, std::make_exception_ptr(std::runtime_error("reset by peer")))
        .wait();
  }

  concurrency::streams::producer_consumer_buffer<uint8_t> body_;
  std::shared_ptr<pplx::cancellation_token_source> cancel_;
};

TEST_F(WatchStreamTest, LinesSplitAcrossWritesEmptyLinesSkippedAndALastLineWithoutNewline) {
  auto stream = Open();
  Write("{\"a\":1}\n{\"b\"");
  EXPECT_THAT(stream->Next(), IsOkAndHolds(Optional(std::string("{\"a\":1}"))));
  Write(":2}\r\n\n\n{\"c\":3}");
  EXPECT_THAT(stream->Next(), IsOkAndHolds(Optional(std::string("{\"b\":2}"))));
  End();
  EXPECT_THAT(stream->Next(), IsOkAndHolds(Optional(std::string("{\"c\":3}"))));
  EXPECT_THAT(stream->Next(), IsOkAndHolds(std::nullopt));
  EXPECT_THAT(stream->Next(), IsOkAndHolds(std::nullopt));
  EXPECT_FALSE(cancel_->get_token().is_canceled());
}

TEST_F(WatchStreamTest, ALineWrittenWhileNextWaitsWakesIt) {
  auto stream = Open();
  std::jthread writer([&] {
    std::this_thread::sleep_for(milliseconds(20));
    Write("{\"late\":true}\n");
  });
  EXPECT_THAT(stream->Next(), IsOkAndHolds(Optional(std::string("{\"late\":true}"))));
}

TEST_F(WatchStreamTest, LargeLinesArrivingInSmallPiecesAreReadWhole) {
  // 200 events of 50 KB (10 MB, a big initial list) written in 8 KB pieces by another thread.
  auto stream = Open();
  const std::string line(50'000, 'x');
  std::jthread writer([&] {
    std::string all;
    for (int i = 0; i < 200; ++i) {
      all += line + "\n";
    }
    for (size_t at = 0; at < all.size(); at += 8192) {
      Write(all.substr(at, 8192));
    }
    End();
  });
  int lines = 0;
  while (true) {
    auto next = stream->Next();
    ASSERT_THAT(next, IsOk());
    if (!next->has_value()) {
      break;
    }
    ASSERT_EQ((*next)->size(), line.size());
    ++lines;
  }
  EXPECT_EQ(lines, 200);
}

TEST_F(WatchStreamTest, ManySmallLinesBufferedAtOnceComeOutInOrder) {
  // 20 000 events of ~500 bytes already buffered (10 MB): each Next() takes one line without
  // moving the rest of the buffer.
  auto stream = Open();
  std::string all;
  for (int i = 0; i < 20'000; ++i) {
    all += std::to_string(i) + ":" + std::string(490, 'y') + "\n";
  }
  Write(all);
  End();
  for (int i = 0; i < 20'000; ++i) {
    auto next = stream->Next();
    ASSERT_THAT(next, IsOk());
    ASSERT_TRUE(next->has_value());
    ASSERT_EQ((*next)->substr(0, (*next)->find(':')), std::to_string(i));
  }
  EXPECT_THAT(stream->Next(), IsOkAndHolds(std::nullopt));
}

TEST_F(WatchStreamTest, ABrokenBodyIsUnavailableAndStaysSo) {
  auto stream = Open();
  Write("{\"a\":1}\n");
  EXPECT_THAT(stream->Next(), IsOk());
  // What arrived before the connection broke is still delivered.
  Write("{\"b\":2}\n{\"c\"");
  Break();
  EXPECT_THAT(stream->Next(), IsOkAndHolds(Optional(std::string("{\"b\":2}"))));
  auto next = stream->Next();
  EXPECT_THAT(next, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(next.status().message(), HasSubstr("reset by peer"));
  EXPECT_THAT(next.status().message(), HasSubstr("watch /x"));
  EXPECT_THAT(stream->Next(), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(WatchStreamTest, SilenceForTheIdleTimeoutIsDeadlineExceededAndCancelsTheRequest) {
  auto stream = Open(milliseconds(30));
  auto next = stream->Next();
  EXPECT_THAT(next, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(next.status().message(), HasSubstr("idle timeout"));
  EXPECT_TRUE(cancel_->get_token().is_canceled());
  Write("{\"too\":\"late\"}\n");
  EXPECT_THAT(stream->Next(), StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(WatchStreamTest, CancelFromAnotherThreadUnblocksNext) {
  auto stream = Open(milliseconds(60'000));
  std::jthread canceller([&] {
    std::this_thread::sleep_for(milliseconds(20));  // Next() is (very likely) waiting by now
    stream->Cancel();
  });
  EXPECT_THAT(stream->Next(), StatusIs(absl::StatusCode::kCancelled));
  canceller.join();
  EXPECT_TRUE(cancel_->get_token().is_canceled());
  Write("{\"a\":1}\n");
  EXPECT_THAT(stream->Next(), StatusIs(absl::StatusCode::kCancelled));
}

TEST_F(WatchStreamTest, DestroyingAStreamThatDidNotEndCancelsTheRequest) {
  auto stream = Open();
  Write("{\"a\":1}\n");
  EXPECT_THAT(stream->Next(), IsOk());
  stream.reset();
  EXPECT_TRUE(cancel_->get_token().is_canceled());
}

}  // namespace
}  // namespace registrar::kube
