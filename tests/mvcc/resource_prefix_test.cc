#include "mvcc/resource_prefix.h"

#include "gtest/gtest.h"

namespace rametcd::mvcc {
namespace {

TEST(ResourcePrefixTest, CoreResources) {
  EXPECT_EQ(ResourcePrefixOf("/registry/pods/default/nginx"), "/registry/pods/");
  EXPECT_EQ(ResourcePrefixOf("/registry/minions/node-1"), "/registry/minions/");
  EXPECT_EQ(ResourcePrefixOf("/registry/leases/kube-node-lease/n1"), "/registry/leases/");
  EXPECT_EQ(ResourcePrefixOf("/registry/pods/"), "/registry/pods/");
}

TEST(ResourcePrefixTest, GroupResources) {
  EXPECT_EQ(ResourcePrefixOf("/registry/apiextensions.k8s.io/customresourcedefinitions/x"),
            "/registry/apiextensions.k8s.io/customresourcedefinitions/");
  EXPECT_EQ(ResourcePrefixOf("/registry/example.com/foos/ns/x"), "/registry/example.com/foos/");
}

TEST(ResourcePrefixTest, OtherKeys) {
  EXPECT_EQ(ResourcePrefixOf("/registry/health"), "");
  EXPECT_EQ(ResourcePrefixOf("/registry/"), "");
  EXPECT_EQ(ResourcePrefixOf("/registry//x"), "");
  EXPECT_EQ(ResourcePrefixOf("/registry/example.com/foos"), "");
  EXPECT_EQ(ResourcePrefixOf("/registry/example.com//x"), "");
  EXPECT_EQ(ResourcePrefixOf("compact_rev_key"), "");
  EXPECT_EQ(ResourcePrefixOf("/registr/pods/x"), "");
  EXPECT_EQ(ResourcePrefixOf(""), "");
}

TEST(ResourcePrefixTest, EveryKeyWithAPrefixMapsToIt) {
  // Prefix blocks must be disjoint and complete: anything under a prefix belongs to it.
  for (const char* key : {"/registry/pods/a", "/registry/pods/a/b/c", "/registry/pods//",
                          "/registry/a.b/c/", "/registry/a.b/c/d/e"}) {
    std::string_view prefix = ResourcePrefixOf(key);
    ASSERT_FALSE(prefix.empty()) << key;
    EXPECT_EQ(ResourcePrefixOf(std::string(prefix) + "anything"), prefix) << key;
  }
}

}  // namespace
}  // namespace rametcd::mvcc
