/* genlog: writes a synthetic but statistically meaningful access log of an
 * online shop (nginx "combined" plus $request_time), the bundled sample and
 * the input of benchmarks.
 *
 * Five personas share one site: browsers (HTML pages with their assets),
 * the mobile app (JSON API with logins and token refreshes), partner API
 * clients (order sync with api keys in the query), search crawlers
 * (robots.txt, sequential walks) and vulnerability scanners (probes, 404s).
 * Each persona has its own Markov chain over endpoints, heavy-tailed session
 * lengths and think times, and its own diurnal arrival curve. Sessions
 * arrive as a non-homogeneous Poisson process; each is given to a client
 * (IP + user agent) drawn with Pareto-skewed activity, never while that
 * client is still inside a session or less than the idle timeout after it,
 * so a sessionizer with a 30 min timeout recovers the true sessions.
 * Active sessions wait in a min-heap keyed by their next request time, which
 * makes the output sorted by time. The output is a pure function of the
 * options: same seed, same bytes. */

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "units.h"

#define HOST_URL "https://shop.example.com"
#define DAY 86400.0
/* In-session pauses stay below the usual 30 min idle timeout and new
 * sessions of a client start well after it, so both sides of the cut are
 * unambiguous for the sessionizer that learns from this log. */
#define MAX_THINK 1500.0
#define SESSION_GAP 1860.0
#define TARGET_MAX 400
#define REF_MAX (TARGET_MAX + 32)
#define PEND_MAX 8
#define OUT_CAP (1u << 20)
#define LINE_MAX_BYTES 2048
#define PEND_ASSET 128 /* pending entry: PEND_ASSET + index in assets[] */
#define TWO_PI 6.283185307179586

/* ---- endpoints ----------------------------------------------------------- */

enum kind {
  K_HOME,
  K_LIST,
  K_CATEGORY,
  K_PRODUCT,
  K_SEARCH,
  K_CART,
  K_CART_ADD,
  K_CART_DEL,
  K_LOGIN_PAGE,
  K_LOGIN,
  K_ACCOUNT,
  K_ORDERS_PAGE,
  K_CHECKOUT_PAGE,
  K_CHECKOUT,
  K_CONFIRM,
  K_RESET,
  K_ASSET,
  K_IMAGE,
  K_ROBOTS,
  K_SITEMAP,
  K_LEGACY,
  K_PROBE,
  K_API_ORDERS,
  K_API_ORDER,
  K_API_PATCH,
  K_API_INVENTORY,
  K_API_PRODUCTS,
  K_API_SHIPMENT,
  K_M_LOGIN,
  K_M_REFRESH,
  K_M_FEED,
  K_M_ITEM,
  K_M_PROFILE,
  K_M_PRODUCT,
  K_M_CART_ADD,
  K_M_NOTIF,
  K_M_SEARCH,
  K_M_LOGOUT,
  K_COUNT
};
#define K_START K_COUNT /* row index of the chain's entry state */

#define KF_HTML 1u /* a page: becomes the referer, pulls assets */
#define KF_DYN 2u  /* served by the application: can fail with 5xx */
#define KF_API 4u  /* JSON error bodies */

struct kind_info {
  const char *method;
  unsigned flags;
  double size_med, size_sigma; /* bytes of a successful response */
  double lat_med, lat_sigma;   /* milliseconds */
  double think;                /* s: a human's median pause before it */
};

static const struct kind_info kinds[K_COUNT] = {
    [K_HOME] = {"GET", KF_HTML | KF_DYN, 52000, 0.12, 18, 0.5, 12},
    [K_LIST] = {"GET", KF_HTML | KF_DYN, 38000, 0.2, 35, 0.6, 10},
    [K_CATEGORY] = {"GET", KF_HTML | KF_DYN, 41000, 0.2, 30, 0.6, 9},
    [K_PRODUCT] = {"GET", KF_HTML | KF_DYN, 27000, 0.35, 22, 0.6, 14},
    [K_SEARCH] = {"GET", KF_HTML | KF_DYN, 31000, 0.45, 85, 0.7, 11},
    [K_CART] = {"GET", KF_HTML | KF_DYN, 14000, 0.4, 15, 0.5, 16},
    [K_CART_ADD] = {"POST", KF_DYN, 180, 0.2, 40, 0.5, 22},
    [K_CART_DEL] = {"DELETE", KF_DYN, 0, 0, 25, 0.5, 12},
    [K_LOGIN_PAGE] = {"GET", KF_HTML | KF_DYN, 8200, 0.03, 6, 0.4, 10},
    [K_LOGIN] = {"POST", KF_DYN, 0, 0, 180, 0.35, 14},
    [K_ACCOUNT] = {"GET", KF_HTML | KF_DYN, 16000, 0.3, 25, 0.5, 8},
    [K_ORDERS_PAGE] = {"GET", KF_HTML | KF_DYN, 22000, 0.6, 60, 0.7, 9},
    [K_CHECKOUT_PAGE] = {"GET", KF_HTML | KF_DYN, 19000, 0.2, 45, 0.5, 18},
    [K_CHECKOUT] = {"POST", KF_DYN, 0, 0, 650, 0.5, 75},
    [K_CONFIRM] = {"GET", KF_HTML | KF_DYN, 12500, 0.2, 30, 0.5, 1},
    [K_RESET] = {"GET", KF_HTML | KF_DYN, 7600, 0.03, 20, 0.5, 25},
    [K_ASSET] = {"GET", 0, 0, 0, 2, 1.2, 0},
    [K_IMAGE] = {"GET", 0, 0, 0, 8, 1.0, 0},
    [K_ROBOTS] = {"GET", 0, 312, 0, 0.2, 0.5, 0},
    [K_SITEMAP] = {"GET", KF_DYN, 184000, 0.02, 120, 0.4, 0},
    [K_LEGACY] = {"GET", 0, 0, 0, 0.3, 0.5, 0},
    [K_PROBE] = {"GET", 0, 0, 0, 0.3, 0.6, 0},
    [K_API_ORDERS] = {"GET", KF_DYN | KF_API, 42000, 0.9, 70, 0.6, 0},
    [K_API_ORDER] = {"GET", KF_DYN | KF_API, 2300, 0.4, 18, 0.5, 0},
    [K_API_PATCH] = {"PATCH", KF_DYN | KF_API, 2300, 0.4, 45, 0.5, 0},
    [K_API_INVENTORY] = {"PUT", KF_DYN | KF_API, 0, 0, 30, 0.5, 0},
    [K_API_PRODUCTS] = {"GET", KF_DYN | KF_API, 64000, 0.7, 90, 0.6, 0},
    [K_API_SHIPMENT] = {"POST", KF_DYN | KF_API, 420, 0.2, 110, 0.5, 0},
    [K_M_LOGIN] = {"POST", KF_DYN | KF_API, 890, 0.05, 170, 0.35, 9},
    [K_M_REFRESH] = {"POST", KF_DYN | KF_API, 860, 0.05, 25, 0.4, 1},
    [K_M_FEED] = {"GET", KF_DYN | KF_API, 18000, 0.5, 60, 0.6, 7},
    [K_M_ITEM] = {"GET", KF_DYN | KF_API, 3400, 0.6, 20, 0.5, 9},
    [K_M_PROFILE] = {"GET", KF_DYN | KF_API, 1900, 0.4, 15, 0.5, 10},
    [K_M_PRODUCT] = {"GET", KF_DYN | KF_API, 4100, 0.4, 20, 0.5, 11},
    [K_M_CART_ADD] = {"POST", KF_DYN | KF_API, 240, 0.2, 40, 0.5, 15},
    [K_M_NOTIF] = {"GET", KF_DYN | KF_API, 2600, 0.8, 30, 0.6, 5},
    [K_M_SEARCH] = {"GET", KF_DYN | KF_API, 12000, 0.6, 80, 0.7, 9},
    [K_M_LOGOUT] = {"DELETE", KF_DYN | KF_API, 0, 0, 12, 0.4, 20},
};

/* ---- personas and their chains ------------------------------------------- */

struct edge {
  uint8_t to, w;
};
struct row {
  const struct edge *e;
  uint8_t n;
};
#define ROW(...)                                                               \
  {                                                                            \
    (const struct edge[]){__VA_ARGS__},                                        \
        (uint8_t)(sizeof((const struct edge[]){__VA_ARGS__}) /                 \
                  sizeof(struct edge))                                         \
  }

enum persona { P_BROWSER, P_MOBILE, P_API, P_CRAWLER, P_SCANNER, P_COUNT };

static const struct row browser_rows[K_COUNT + 1] = {
    [K_START] =
        ROW({K_HOME, 40}, {K_PRODUCT, 22}, {K_LIST, 12}, {K_CATEGORY, 10},
            {K_SEARCH, 8}, {K_CART, 3}, {K_LOGIN_PAGE, 3}, {K_ACCOUNT, 2}),
    [K_HOME] =
        ROW({K_LIST, 25}, {K_CATEGORY, 22}, {K_SEARCH, 25}, {K_PRODUCT, 15},
            {K_LOGIN_PAGE, 6}, {K_CART, 4}, {K_ACCOUNT, 3}),
    [K_LIST] = ROW({K_PRODUCT, 55}, {K_LIST, 25}, {K_SEARCH, 8},
                   {K_CATEGORY, 6}, {K_HOME, 3}, {K_CART, 3}),
    [K_CATEGORY] = ROW({K_PRODUCT, 50}, {K_LIST, 20}, {K_CATEGORY, 12},
                       {K_SEARCH, 10}, {K_HOME, 8}),
    [K_PRODUCT] =
        ROW({K_PRODUCT, 28}, {K_CART_ADD, 18}, {K_LIST, 14}, {K_SEARCH, 14},
            {K_CATEGORY, 8}, {K_HOME, 8}, {K_CART, 10}),
    [K_SEARCH] = ROW({K_PRODUCT, 55}, {K_SEARCH, 25}, {K_LIST, 8}, {K_HOME, 7},
                     {K_CATEGORY, 5}),
    [K_CART] = ROW({K_CHECKOUT_PAGE, 35}, {K_PRODUCT, 20}, {K_CART_DEL, 10},
                   {K_HOME, 10}, {K_LIST, 10}, {K_SEARCH, 15}),
    [K_CART_ADD] = ROW({K_CART, 45}, {K_PRODUCT, 25}, {K_SEARCH, 12},
                       {K_LIST, 10}, {K_CHECKOUT_PAGE, 8}),
    [K_CART_DEL] = ROW({K_CART, 70}, {K_PRODUCT, 15}, {K_HOME, 15}),
    [K_LOGIN_PAGE] = ROW({K_LOGIN, 85}, {K_HOME, 10}, {K_RESET, 5}),
    [K_LOGIN] =
        ROW({K_ACCOUNT, 40}, {K_HOME, 30}, {K_CART, 20}, {K_ORDERS_PAGE, 10}),
    [K_ACCOUNT] = ROW({K_ORDERS_PAGE, 35}, {K_HOME, 30}, {K_LIST, 15},
                      {K_SEARCH, 15}, {K_CART, 5}),
    [K_ORDERS_PAGE] =
        ROW({K_HOME, 30}, {K_PRODUCT, 25}, {K_ACCOUNT, 20}, {K_SEARCH, 25}),
    [K_CHECKOUT_PAGE] = ROW({K_CHECKOUT, 70}, {K_CART, 20}, {K_HOME, 10}),
    [K_CHECKOUT] = ROW({K_CONFIRM, 1}),
    [K_CONFIRM] = ROW({K_HOME, 50}, {K_ORDERS_PAGE, 25}, {K_PRODUCT, 25}),
    [K_RESET] = ROW({K_LOGIN_PAGE, 80}, {K_HOME, 20}),
};

static const struct row mobile_rows[K_COUNT + 1] = {
    [K_START] = ROW({K_M_FEED, 60}, {K_M_NOTIF, 15}, {K_M_PRODUCT, 10},
                    {K_M_SEARCH, 10}, {K_M_PROFILE, 5}),
    [K_M_LOGIN] = ROW({K_M_FEED, 80}, {K_M_NOTIF, 10}, {K_M_PROFILE, 10}),
    [K_M_REFRESH] = ROW({K_M_FEED, 70}, {K_M_NOTIF, 20}, {K_M_PRODUCT, 10}),
    [K_M_FEED] = ROW({K_M_ITEM, 35}, {K_M_FEED, 30}, {K_M_PRODUCT, 15},
                     {K_M_PROFILE, 8}, {K_M_NOTIF, 5}, {K_M_SEARCH, 7}),
    [K_M_ITEM] = ROW({K_M_FEED, 45}, {K_M_PRODUCT, 25}, {K_M_PROFILE, 15},
                     {K_M_ITEM, 15}),
    [K_M_PROFILE] =
        ROW({K_M_FEED, 50}, {K_M_PROFILE, 20}, {K_M_ITEM, 20}, {K_M_NOTIF, 10}),
    [K_M_PRODUCT] = ROW({K_M_CART_ADD, 20}, {K_M_FEED, 30}, {K_M_PRODUCT, 25},
                        {K_M_SEARCH, 15}, {K_M_PROFILE, 10}),
    [K_M_CART_ADD] = ROW({K_M_FEED, 40}, {K_M_PRODUCT, 40}, {K_M_SEARCH, 20}),
    [K_M_NOTIF] = ROW({K_M_ITEM, 40}, {K_M_FEED, 40}, {K_M_PROFILE, 20}),
    [K_M_SEARCH] = ROW({K_M_PRODUCT, 60}, {K_M_SEARCH, 25}, {K_M_FEED, 15}),
};

static const struct row api_rows[K_COUNT + 1] = {
    [K_START] =
        ROW({K_API_ORDERS, 60}, {K_API_PRODUCTS, 25}, {K_API_INVENTORY, 15}),
    [K_API_ORDERS] =
        ROW({K_API_ORDER, 55}, {K_API_ORDERS, 20}, {K_API_PATCH, 10},
            {K_API_SHIPMENT, 10}, {K_API_PRODUCTS, 5}),
    [K_API_ORDER] = ROW({K_API_ORDER, 45}, {K_API_PATCH, 25},
                        {K_API_SHIPMENT, 15}, {K_API_ORDERS, 15}),
    [K_API_PATCH] =
        ROW({K_API_ORDER, 50}, {K_API_SHIPMENT, 30}, {K_API_ORDERS, 20}),
    [K_API_SHIPMENT] =
        ROW({K_API_ORDER, 60}, {K_API_ORDERS, 30}, {K_API_SHIPMENT, 10}),
    [K_API_PRODUCTS] =
        ROW({K_API_PRODUCTS, 45}, {K_API_INVENTORY, 45}, {K_API_ORDERS, 10}),
    [K_API_INVENTORY] =
        ROW({K_API_INVENTORY, 70}, {K_API_PRODUCTS, 20}, {K_API_ORDERS, 10}),
};

static const struct row crawler_rows[K_COUNT + 1] = {
    [K_START] =
        ROW({K_ROBOTS, 75}, {K_SITEMAP, 5}, {K_HOME, 10}, {K_PRODUCT, 10}),
    [K_ROBOTS] = ROW({K_SITEMAP, 45}, {K_HOME, 35}, {K_LIST, 20}),
    [K_SITEMAP] = ROW({K_PRODUCT, 60}, {K_LIST, 25}, {K_CATEGORY, 15}),
    [K_HOME] = ROW({K_LIST, 40}, {K_CATEGORY, 40}, {K_PRODUCT, 20}),
    [K_LIST] = ROW({K_PRODUCT, 60}, {K_LIST, 35}, {K_CATEGORY, 5}),
    [K_CATEGORY] = ROW({K_PRODUCT, 50}, {K_LIST, 30}, {K_CATEGORY, 20}),
    [K_PRODUCT] =
        ROW({K_PRODUCT, 60}, {K_LIST, 25}, {K_LEGACY, 5}, {K_CATEGORY, 10}),
    [K_LEGACY] = ROW({K_PRODUCT, 1}),
};

static const struct row scanner_rows[K_COUNT + 1] = {
    [K_START] = ROW({K_HOME, 40}, {K_PROBE, 60}),
    [K_HOME] = ROW({K_PROBE, 100}),
    [K_PROBE] = ROW({K_PROBE, 92}, {K_HOME, 3}, {K_LOGIN_PAGE, 5}),
    [K_LOGIN_PAGE] = ROW({K_PROBE, 70}, {K_LOGIN, 30}),
    [K_LOGIN] = ROW({K_LOGIN, 70}, {K_PROBE, 30}),
};

struct persona_info {
  const char *name;
  double share; /* of sessions over a day */
  const struct row *rows;
  /* session length in main requests: lognormal body, Pareto tail */
  double len_med, len_sigma, len_tail, len_alpha, len_cap;
  /* think time: machines use think_med, humans the endpoint table */
  double think_med, think_sigma, think_tail, think_alpha;
  /* diurnal shape: night floor plus a morning and an evening bump */
  double night, am_h, am_a, am_w, pm_h, pm_a, pm_w, weekend;
  /* clients: mean sessions per client per day, Pareto activity */
  double sess_per_client, act_alpha, act_cap;
};

static const struct persona_info personas[P_COUNT] = {
    [P_BROWSER] = {"browser", 0.52, browser_rows, 4,    1.0,  0.03, 1.5, 250,
                   0,         1.0,  0.05,         1.4,  0.12, 10.0, 0.8, 2.0,
                   20.5,      1.2,  2.2,          1.15, 1.4,  1.2,  40},
    [P_MOBILE] = {"mobile", 0.27, mobile_rows, 7,   0.9,  0.03, 1.6, 300,
                  0,        1.0,  0.05,        1.5, 0.08, 8.0,  0.9, 1.3,
                  21.5,     1.3,  1.8,         1.2, 2.0,  1.5,  20},
    [P_API] = {"api", 0.09, api_rows, 5,   1.2,  0.05, 1.3, 1500,
               0.35,  0.6,  0.01,     1.5, 0.5,  11.0, 0.7, 3.0,
               15.0,  0.6,  3.0,      0.5, 15.0, 1.0,  30},
    [P_CRAWLER] = {"crawler", 0.07, crawler_rows, 15,  1.1, 0.05, 1.2, 3000,
                   1.5,       0.35, 0.02,         1.5, 1.0, 12.0, 0.1, 4.0,
                   0.0,       0.0,  1.0,          1.0, 8.0, 0.9,  50},
    [P_SCANNER] = {"scanner", 0.05, scanner_rows, 12,  0.8, 0.02, 1.5, 400,
                   0.12,      0.6,  0.01,         1.5, 1.0, 3.0,  0.3, 3.0,
                   0.0,       0.0,  1.0,          1.0, 1.3, 2.0,  5},
};

/* ---- string pools -------------------------------------------------------- */

struct str {
  const char *s;
  uint16_t n;
};
#define S(x)                                                                   \
  { x, sizeof(x) - 1 }
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct str browser_uas[] = {
    S("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
      "like Gecko) Chrome/130.0.0.0 Safari/537.36"),
    S("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) "
      "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 "
      "Safari/604.1"),
    S("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
      "(KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"),
    S("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like "
      "Gecko) Chrome/130.0.0.0 Mobile Safari/537.36"),
    S("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
      "(KHTML, like Gecko) Version/18.1 Safari/605.1.15"),
    S("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
      "like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0"),
    S("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 "
      "Firefox/132.0"),
    S("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
      "Gecko) Chrome/130.0.0.0 Safari/537.36"),
    S("Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
      "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"),
    S("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:132.0) Gecko/20100101 "
      "Firefox/132.0"),
    S("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, "
      "like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36"),
    S("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
      "like Gecko) Chrome/129.0.0.0 Safari/537.36"),
    S("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:132.0) Gecko/20100101 "
      "Firefox/132.0"),
    S("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
      "like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/114.0.0.0"),
};

/* The last two are old app versions, which still send the access token in
 * the query string: a secret for capture's redaction to find. */
#define MOBILE_OLD_UAS 2
static const struct str mobile_uas[] = {
    S("ShopApp/5.3.1 (iPhone15,3; iOS 18.1; Scale/3.00)"),
    S("ShopApp/5.3.1 (Android 15; Pixel 8) okhttp/4.12.0"),
    S("ShopApp/5.3.0 (iPhone14,5; iOS 17.6.1; Scale/3.00)"),
    S("ShopApp/5.3.1 (Android 14; SM-A546B) okhttp/4.12.0"),
    S("ShopApp/5.2.4 (iPhone13,2; iOS 17.5; Scale/3.00)"),
    S("ShopApp/5.2.4 (Android 13; Redmi Note 12) okhttp/4.11.0"),
    S("ShopApp/5.3.1 (iPad13,18; iPadOS 18.1; Scale/2.00)"),
    S("ShopApp/4.9.7 (iPhone12,1; iOS 16.7.10; Scale/2.00)"),
    S("ShopApp/4.9.7 (Android 11; moto g(30)) okhttp/4.9.3"),
};

static const struct str api_uas[] = {
    S("python-requests/2.32.3"),
    S("ShopSync/2.4.0 (+https://partner-a.example.net/shopsync)"),
    S("Go-http-client/1.1"),
    S("Apache-HttpClient/5.3.1 (Java/17.0.12)"),
    S("curl/8.10.1"),
    S("axios/1.7.7"),
    S("ERPConnector/7.1 (Windows NT 10.0; Win64)"),
};

struct crawler_family {
  struct str ua;
  uint32_t net;   /* first address of its range, host order */
  unsigned width; /* addresses in the range */
  unsigned w;     /* popularity */
};
#define IP4(a, b, c, d)                                                        \
  (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((c) << 8) | (d))
static const struct crawler_family crawlers[] = {
    {S("Mozilla/5.0 (compatible; Googlebot/2.1; "
       "+http://www.google.com/bot.html)"),
     IP4(66, 249, 64, 1), 4000, 30},
    {S("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) "
       "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.116 Mobile "
       "Safari/537.36 (compatible; Googlebot/2.1; "
       "+http://www.google.com/bot.html)"),
     IP4(66, 249, 72, 1), 2000, 20},
    {S("Mozilla/5.0 (compatible; bingbot/2.0; "
       "+http://www.bing.com/bingbot.htm)"),
     IP4(40, 77, 167, 1), 250, 18},
    {S("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)"),
     IP4(54, 36, 148, 1), 250, 10},
    {S("Mozilla/5.0 (compatible; SemrushBot/7~bl; "
       "+http://www.semrush.com/bot.html)"),
     IP4(185, 191, 171, 1), 250, 8},
    {S("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)"),
     IP4(5, 255, 231, 1), 250, 5},
    {S("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; "
       "GPTBot/1.2; +https://openai.com/gptbot)"),
     IP4(20, 171, 207, 1), 250, 6},
    {S("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 "
       "(KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; "
       "+http://www.apple.com/go/applebot)"),
     IP4(17, 241, 75, 1), 250, 5},
    {S("DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)"),
     IP4(20, 191, 45, 1), 250, 3},
    {S("facebookexternalhit/1.1 "
       "(+http://www.facebook.com/externalhit_uatext.php)"),
     IP4(173, 252, 83, 1), 250, 4},
};

static const struct str scanner_uas[] = {
    S("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
      "like Gecko) Chrome/78.0.3904.108 Safari/537.36"),
    S("Mozilla/5.0 zgrab/0.x"),
    S("python-requests/2.31.0"),
    S("Go-http-client/1.1"),
    S("-"),
    S("Mozilla/5.0 (compatible; CensysInspect/1.1; "
      "+https://about.censys.io/)"),
    S("curl/7.68.0"),
    S("masscan/1.3 (https://github.com/robertdavidgraham/masscan)"),
};

struct probe {
  const char *method;
  struct str path;
  unsigned status;
};
static const struct probe probes[] = {
    {"GET", S("/.env"), 404},
    {"GET", S("/.git/config"), 403},
    {"GET", S("/wp-login.php"), 404},
    {"GET", S("/wp-admin/"), 404},
    {"POST", S("/xmlrpc.php"), 404},
    {"GET", S("/admin"), 404},
    {"GET", S("/phpmyadmin/"), 404},
    {"GET", S("/config.json"), 404},
    {"GET", S("/.aws/credentials"), 404},
    {"GET", S("/server-status"), 403},
    {"GET", S("/api/.env"), 404},
    {"GET", S("/backup.zip"), 404},
    {"POST", S("/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php"), 404},
    {"GET", S("/owa/auth/logon.aspx"), 404},
    {"POST", S("/boaform/admin/formLogin"), 404},
    {"GET", S("/actuator/env"), 404},
    {"GET", S("/.DS_Store"), 404},
    {"GET", S("/wp-content/plugins/"), 404},
    {"GET", S("/?XDEBUG_SESSION_START=phpstorm"), 200},
    {"GET", S("/HNAP1/"), 404},
    {"GET", S("/solr/admin/info/system?wt=json"), 404},
    {"GET", S("/console/"), 404},
    {"GET", S("/login.action"), 404},
    {"HEAD", S("/"), 200},
    {"GET", S("/.well-known/security.txt"), 404},
    {"GET", S("/debug/default/view?panel=config"), 404},
    {"PUT", S("/upload.php"), 405},
};

struct asset {
  struct str path;
  unsigned size;
};
static const struct asset assets[] = {
    {S("/static/css/app.3f9c2b71.css"), 48213},
    {S("/static/js/vendor.1b7a9c04.js"), 387102},
    {S("/static/js/app.8d41e0f2.js"), 201877},
    {S("/static/fonts/inter-var.woff2"), 97344},
    {S("/static/img/logo.svg"), 3211},
    {S("/favicon.ico"), 15086},
};

struct weighted {
  struct str s;
  unsigned w;
};
static const struct weighted landing_refs[] = {
    {S("-"), 38},
    {S("https://www.google.com/"), 34},
    {S("https://www.bing.com/"), 5},
    {S("https://duckduckgo.com/"), 4},
    {S("https://www.facebook.com/"), 4},
    {S("https://news.example.org/deals/black-friday"), 4},
    {S("https://www.instagram.com/"), 3},
    {S("https://mail.example.net/"), 3},
    {S("https://t.co/"), 2},
    {S("https://www.pinterest.com/"), 2},
    {S("android-app://com.google.android.gm/"), 1},
};

static const char *const words[] = {
    "shoes",
    "laptop",
    "headphones",
    "jacket",
    "coffee",
    "watch",
    "backpack",
    "phone+case",
    "lamp",
    "desk",
    "office+chair",
    "tv",
    "camera",
    "keyboard",
    "mouse",
    "monitor",
    "dress",
    "jeans",
    "sneakers",
    "yoga+mat",
    "water+bottle",
    "blender",
    "kettle",
    "toaster",
    "vacuum",
    "pillow",
    "towel",
    "sunglasses",
    "wallet",
    "perfume",
    "lego",
    "puzzle",
    "drone",
    "charger",
    "usb-c+cable",
    "speaker",
    "earbuds",
    "tent",
    "bike",
    "helmet",
    "gloves",
    "scarf",
    "boots",
    "socks",
    "mug",
    "notebook",
    "printer",
    "router",
    "ssd",
    "gift",
    "sale",
    "black+friday",
    "christmas",
    "red+dress",
    "running+shoes",
    "gaming+chair",
    "air+fryer",
    "coffee+maker",
    "wireless+mouse",
    "caf%C3%A9",
    "cr%C3%A8me+br%C3%BBl%C3%A9e",
    "4k+tv",
    "kids",
    "winter+coat",
    "smart+watch",
    "hdmi",
    "standing+desk",
};

static const char *const categories[] = {
    "electronics",     "home-garden", "fashion", "toys",       "books",
    "sports-outdoors", "beauty",      "grocery", "automotive", "pet-supplies",
    "office",          "music",       "baby",    "jewelry",
};

static const char *const sorts[] = {
    "price_asc",
    "price_desc",
    "newest",
    "rating",
};

static const char *const mail_names[] = {
    "anna",  "j.smith",  "maria.g", "tom",    "lee",
    "sofia", "k.nguyen", "omar",    "li.wei", "paul",
};
static const char *const mail_domains[] = {
    "example.com",
    "example.net",
    "example.org",
    "mail.example.com",
};

static const unsigned char browser_octets[] = {
    24, 31, 37,  46,  62,  71,  73,  77,  81,  86,  88,
    92, 98, 109, 151, 176, 178, 188, 195, 212, 217,
};
static const unsigned char mobile_octets[] = {
    39, 49, 58, 82, 90, 101, 112, 117, 166, 174, 223,
};
static const unsigned char api_octets[] = {3, 13, 18, 34, 35, 52, 104};
static const unsigned char scanner_octets[] = {45, 89, 103, 193, 194, 209};
static const char *const v6_prefixes[] = {
    "2a02:c7c", "2600:1700", "2a01:e0a", "2003:e2", "2406:3003", "2a00:23c8",
};

/* ---- generator state ----------------------------------------------------- */

struct zipf {
  double *cdf;
  uint32_t n;
};

#define CF_V6 1u
#define CF_H2 2u
#define CF_BADKEY 4u   /* api: revoked key, every request is a 401 */
#define CF_BASIC 8u    /* api: HTTP basic auth instead of an api_key */
#define CF_OLDAPP 16u  /* mobile: access_token in the query */
#define CF_TOKEN 32u   /* mobile: holds a refresh token */
#define CF_LOGIN 64u   /* browser: holds a "remember me" cookie */
#define CF_SHARED 128u /* browser: shares its IP with the previous client */

struct client {
  double last; /* time of its last request */
  uint32_t id; /* index within its persona's pool */
  uint16_t ua, nsess;
  uint8_t flags, active, iplen;
  char ip[41];
};

struct pool {
  struct client *c;
  uint32_t n, cap;
  double *cdf; /* activity of the first ncdf clients */
  uint32_t ncdf;
};

#define SF_QUICK 1u  /* next request follows a redirect: no think time */
#define SF_LOGGED 2u /* browser: logged in */
#define SF_ASSETS 4u /* browser: assets already loaded */
#define SF_AFTER 8u  /* browser: resume checkout after logging in */
#define SF_FAIL 16u  /* the previous main request failed */

struct session {
  double t;     /* time of its next request */
  double crawl; /* crawler: its median delay between requests */
  uint64_t seq;
  uint32_t client, product, page, left;
  uint8_t persona, kind, prev, flags, npend, ipend, auth_fails;
  uint8_t pend[PEND_MAX];
  uint16_t reflen;
  char tok[136];     /* mobile bearer token or api key */
  char cursor[24];   /* mobile feed cursor */
  char user[24];     /* basic-auth user */
  char ref[REF_MAX]; /* last: session_start clears everything before it */
};

struct gen {
  struct rng rng;
  uint64_t seed;
  int has_spare;
  double spare;
  int64_t start_day;    /* days since 1970-01-01 */
  double rate[P_COUNT]; /* sessions per second at shape 1 */
  double shape[P_COUNT][1440];
  double lambda_max;
  struct zipf products, users, items, orders, words, cats, pages;
  struct zipf uas[P_COUNT];
  struct zipf crawler_fam;
  unsigned fam_next[NELEM(crawlers)];
  struct pool pools[P_COUNT];
  struct session *ss;
  uint32_t nss, capss, *freelist, nfree;
  uint32_t *heap, nheap;
  uint64_t seq, orders_made;
  uint64_t lines, sessions, max_lines, max_sessions;
  int fmt;
  FILE *f; /* NULL: count only (calibration) */
  char *buf;
  size_t len;
  int err;
  int64_t ts_sec;
  char ts[32];
};

enum { FMT_COMBINED_RT, FMT_COMBINED, FMT_CLF };

/* ---- random helpers ------------------------------------------------------ */

static double unif(struct gen *g) {
  return rng_double(&g->rng);
}

/* (0, 1]: safe for log() and negative powers. */
static double unif_pos(struct gen *g) {
  return 1.0 - rng_double(&g->rng);
}

static uint32_t below(struct gen *g, uint32_t n) {
  return (uint32_t)rng_below(&g->rng, n);
}

static double normal(struct gen *g) {
  if (g->has_spare) {
    g->has_spare = 0;
    return g->spare;
  }
  double u = unif_pos(g), v = unif(g);
  double r = sqrt(-2.0 * log(u));
  g->spare = r * sin(TWO_PI * v);
  g->has_spare = 1;
  return r * cos(TWO_PI * v);
}

static double lognorm(struct gen *g, double med, double sigma) {
  return sigma > 0 ? med * exp(sigma * normal(g)) : med;
}

static double pareto(struct gen *g, double xm, double alpha) {
  return xm * pow(unif_pos(g), -1.0 / alpha);
}

static uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static int zipf_init(struct zipf *z, uint32_t n, double s) {
  z->cdf = malloc(n * sizeof *z->cdf);
  if (!z->cdf) return -ENOMEM;
  z->n = n;
  double sum = 0;
  for (uint32_t i = 0; i < n; i++) {
    sum += pow(i + 1.0, -s);
    z->cdf[i] = sum;
  }
  for (uint32_t i = 0; i < n; i++) z->cdf[i] /= sum;
  return 0;
}

static int weights_init(struct zipf *z, const unsigned *w, uint32_t n) {
  z->cdf = malloc(n * sizeof *z->cdf);
  if (!z->cdf) return -ENOMEM;
  z->n = n;
  double sum = 0;
  for (uint32_t i = 0; i < n; i++) z->cdf[i] = sum += w[i];
  for (uint32_t i = 0; i < n; i++) z->cdf[i] /= sum;
  return 0;
}

/* First index whose cumulative share exceeds u. */
static uint32_t cdf_find(const double *cdf, uint32_t n, double u) {
  uint32_t lo = 0, hi = n - 1;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (cdf[mid] > u)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

static uint32_t zipf_draw(struct gen *g, const struct zipf *z) {
  return cdf_find(z->cdf, z->n, unif(g));
}

static void zipf_free(struct zipf *z) {
  free(z->cdf);
  z->cdf = NULL;
}

/* ---- ids ----------------------------------------------------------------- */

#define N_PRODUCTS 5000u
#define N_USERS 120000u
#define N_ITEMS 20000u
#define N_ORDERS 30000u
#define ORDER_BASE 5000000u

/* Popularity rank -> id, scattered so that popular ids are not the smallest
 * numbers (the multipliers are coprime with the set sizes). */
static uint32_t product_id(uint32_t rank) {
  return 1000 + (uint32_t)(((uint64_t)rank * 7919 + 17) % N_PRODUCTS);
}

static uint32_t user_id(uint32_t rank) {
  return 10000 + (uint32_t)(((uint64_t)rank * 7919 + 101) % N_USERS);
}

static uint32_t pick_product(struct gen *g, double unknown) {
  if (unif(g) < unknown) return 1000 + N_PRODUCTS + below(g, 90000);
  return product_id(zipf_draw(g, &g->products));
}

static int product_known(uint32_t id) {
  return id >= 1000 && id < 1000 + N_PRODUCTS;
}

/* ---- output -------------------------------------------------------------- */

static void out_flush(struct gen *g) {
  if (g->len && !g->err && fwrite(g->buf, 1, g->len, g->f) != g->len)
    g->err = errno ? -errno : -EIO;
  g->len = 0;
}

static char *put(char *p, const char *s, size_t n) {
  memcpy(p, s, n);
  return p + n;
}

static char *put_hex(char *p, uint64_t v, int digits) {
  static const char hx[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; i--) *p++ = hx[(v >> (4 * i)) & 15];
  return p;
}

/* A version 4 UUID made of two random words. */
static char *put_uuid(char *p, uint64_t h, uint64_t h2) {
  p = put_hex(p, h >> 32, 8);
  *p++ = '-';
  p = put_hex(p, h >> 16, 4);
  *p++ = '-';
  p = put_hex(p, 0x4000 | (h & 0x0fff), 4);
  *p++ = '-';
  p = put_hex(p, 0x8000 | (h2 >> 48 & 0x3fff), 4);
  *p++ = '-';
  return put_hex(p, h2, 12);
}

static char *put_b64(struct gen *g, char *p, int n) {
  static const char b64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  uint64_t v = 0;
  for (int i = 0; i < n; i++) {
    if (i % 10 == 0) v = rng_next(&g->rng);
    *p++ = b64[v & 63];
    v >>= 6;
  }
  return p;
}

/* Howard Hinnant's civil calendar algorithms (proleptic Gregorian, UTC),
 * so no time zone or locale ever reaches the output. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static char *put_2(char *p, unsigned v) {
  *p++ = (char)('0' + v / 10 % 10);
  *p++ = (char)('0' + v % 10);
  return p;
}

/* "02/Nov/2026:13:55:36 +0000" for seconds since the start day. */
static void format_ts(struct gen *g, int64_t sec) {
  static const char mon[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  int64_t day = g->start_day + sec / 86400, y;
  unsigned m, d, s = (unsigned)(sec % 86400);
  civil_from_days(day, &y, &m, &d);
  char *p = put_2(g->ts, d);
  *p++ = '/';
  p = put(p, mon + 3 * (m - 1), 3);
  *p++ = '/';
  p = units_put_u64(p, (uint64_t)y);
  *p++ = ':';
  p = put_2(p, s / 3600);
  *p++ = ':';
  p = put_2(p, s / 60 % 60);
  *p++ = ':';
  p = put_2(p, s % 60);
  p = put(p, " +0000", 6);
  *p = 0;
  g->ts_sec = sec;
}

/* ISO 8601 UTC time, ':' percent-encoded as HTTP client libraries do. */
static char *put_iso(struct gen *g, char *p, double t) {
  int64_t day = (int64_t)floor(t / DAY), y;
  unsigned m, d, s = (unsigned)((int64_t)floor(t) - day * 86400);
  civil_from_days(g->start_day + day, &y, &m, &d);
  p = units_put_u64(p, (uint64_t)y);
  *p++ = '-';
  p = put_2(p, m);
  *p++ = '-';
  p = put_2(p, d);
  *p++ = 'T';
  p = put_2(p, s / 3600);
  p = put(p, "%3A", 3);
  p = put_2(p, s / 60 % 60);
  p = put(p, "%3A00Z", 6);
  return p;
}

/* ---- clients ------------------------------------------------------------- */

static uint32_t scramble(uint32_t x, uint32_t m) {
  /* A bijection on [0, m) for the m used here (multiplier coprime). */
  return (uint32_t)(((uint64_t)x * 2654435761u + 12345) % m);
}

static void ip4_format(struct client *c, uint32_t ip) {
  char *p = c->ip;
  for (int i = 3; i >= 0; i--) {
    p = units_put_u64(p, (ip >> (8 * i)) & 255);
    if (i) *p++ = '.';
  }
  *p = 0;
  c->iplen = (uint8_t)(p - c->ip);
}

/* Distinct clients of a persona get distinct addresses: the index is split
 * into a first octet and a scrambled rest with no .0 or .255 host part. */
static void ip4_assign(struct client *c, const unsigned char *octets,
                       uint32_t noct, uint32_t idx) {
  const uint32_t m = 254u * 256u * 254u;
  uint32_t v = scramble(idx / noct % m, m);
  uint32_t b = v / (256 * 254) + 1, cc = v / 254 % 256, d = v % 254 + 1;
  ip4_format(c, IP4(octets[idx % noct], b, cc, d));
}

static void ip6_assign(struct gen *g, struct client *c, unsigned persona) {
  uint64_t h = mix64(g->seed ^ ((uint64_t)persona << 56) ^
                     (c->id * 0x9e3779b97f4a7c15ULL));
  uint64_t h2 = mix64(h + 1);
  const char *pre = v6_prefixes[h % NELEM(v6_prefixes)];
  char *p = put(c->ip, pre, strlen(pre));
  /* Two groups of prefix, then a /64 subnet and a random interface id:
   * eight groups in all, as privacy addresses look. */
  uint64_t groups[6] = {h >> 32 & 0xffff,  h >> 48,           h2 & 0xffff,
                        h2 >> 16 & 0xffff, h2 >> 32 & 0xffff, h2 >> 48};
  for (int i = 0; i < 6; i++) {
    static const char hx[] = "0123456789abcdef";
    char tmp[4];
    int n = 0;
    uint64_t v = groups[i];
    *p++ = ':';
    do {
      tmp[n++] = hx[v & 15];
      v >>= 4;
    } while (v);
    while (n) *p++ = tmp[--n];
  }
  *p = 0;
  c->iplen = (uint8_t)(p - c->ip);
}

static int pool_add(struct gen *g, unsigned persona, uint32_t *out) {
  struct pool *pl = &g->pools[persona];
  if (pl->n == pl->cap) {
    uint32_t cap = pl->cap ? pl->cap * 2 : 64;
    struct client *c = realloc(pl->c, cap * sizeof *c);
    if (!c) return -ENOMEM;
    pl->c = c;
    pl->cap = cap;
  }
  uint32_t i = pl->n++;
  struct client *c = &pl->c[i];
  memset(c, 0, sizeof *c);
  c->id = i;
  c->ua = (uint16_t)zipf_draw(g, &g->uas[persona]);
  switch (persona) {
  case P_BROWSER: {
    struct client *prev = i ? &pl->c[i - 1] : NULL;
    if (unif(g) < 0.75) c->flags |= CF_H2;
    if (prev && !(prev->flags & CF_SHARED) && unif(g) < 0.08) {
      /* Office or home NAT: same address, another browser. */
      memcpy(c->ip, prev->ip, sizeof c->ip);
      c->iplen = prev->iplen;
      c->flags |= CF_SHARED | (prev->flags & CF_V6);
      c->ua = (uint16_t)((prev->ua + 1 + below(g, NELEM(browser_uas) - 1)) %
                         NELEM(browser_uas));
    } else if (unif(g) < 0.12) {
      c->flags |= CF_V6;
      ip6_assign(g, c, persona);
    } else {
      ip4_assign(c, browser_octets, NELEM(browser_octets), i);
    }
    break;
  }
  case P_MOBILE:
    if (unif(g) < 0.8) c->flags |= CF_H2;
    if (c->ua >= NELEM(mobile_uas) - MOBILE_OLD_UAS) c->flags |= CF_OLDAPP;
    if (unif(g) < 0.35) {
      c->flags |= CF_V6;
      ip6_assign(g, c, persona);
    } else {
      ip4_assign(c, mobile_octets, NELEM(mobile_octets), i);
    }
    break;
  case P_API:
    if (unif(g) < 0.3) c->flags |= CF_BASIC;
    if (unif(g) < 0.05) c->flags |= CF_BADKEY;
    ip4_assign(c, api_octets, NELEM(api_octets), i);
    break;
  case P_CRAWLER: {
    uint32_t f = zipf_draw(g, &g->crawler_fam);
    unsigned k = g->fam_next[f]++ % crawlers[f].width;
    c->ua = (uint16_t)f;
    ip4_format(c, crawlers[f].net + k);
    break;
  }
  default: ip4_assign(c, scanner_octets, NELEM(scanner_octets), i); break;
  }
  *out = i;
  return 0;
}

static int pool_init(struct gen *g, unsigned persona, uint32_t n) {
  const struct persona_info *pi = &personas[persona];
  struct pool *pl = &g->pools[persona];
  pl->cdf = malloc(n * sizeof *pl->cdf);
  if (!pl->cdf) return -ENOMEM;
  double sum = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t idx;
    int rc = pool_add(g, persona, &idx);
    if (rc < 0) return rc;
    double w = pareto(g, 1.0, pi->act_alpha);
    pl->cdf[i] = sum += w < pi->act_cap ? w : pi->act_cap;
  }
  for (uint32_t i = 0; i < n; i++) pl->cdf[i] /= sum;
  pl->ncdf = n;
  return 0;
}

static int client_free_at(const struct client *c, double t) {
  return !c->active && (c->nsess == 0 || t - c->last > SESSION_GAP);
}

/* A client of the persona that may start a session at t: by activity
 * first, then uniformly, then a newcomer. Heavy clients are often busy, so
 * their activity saturates like that of real people. */
static int pick_client(struct gen *g, unsigned persona, double t,
                       uint32_t *out) {
  struct pool *pl = &g->pools[persona];
  for (int i = 0; i < 8; i++) {
    uint32_t k = i < 4 ? cdf_find(pl->cdf, pl->ncdf, unif(g)) : below(g, pl->n);
    if (client_free_at(&pl->c[k], t)) {
      *out = k;
      return 0;
    }
  }
  return pool_add(g, persona, out);
}

/* ---- sessions and the heap ----------------------------------------------- */

static int sess_less(const struct gen *g, uint32_t a, uint32_t b) {
  const struct session *x = &g->ss[a], *y = &g->ss[b];
  return x->t < y->t || (x->t == y->t && x->seq < y->seq);
}

static void heap_up(struct gen *g, uint32_t i) {
  uint32_t v = g->heap[i];
  while (i) {
    uint32_t p = (i - 1) / 2;
    if (!sess_less(g, v, g->heap[p])) break;
    g->heap[i] = g->heap[p];
    i = p;
  }
  g->heap[i] = v;
}

static void heap_down(struct gen *g, uint32_t i) {
  uint32_t v = g->heap[i], n = g->nheap;
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && sess_less(g, g->heap[c + 1], g->heap[c])) c++;
    if (!sess_less(g, g->heap[c], v)) break;
    g->heap[i] = g->heap[c];
    i = c;
  }
  g->heap[i] = v;
}

static int sess_alloc(struct gen *g, uint32_t *out) {
  if (g->nfree) {
    *out = g->freelist[--g->nfree];
    return 0;
  }
  if (g->nss == g->capss) {
    uint32_t cap = g->capss ? g->capss * 2 : 256;
    struct session *ss = realloc(g->ss, cap * sizeof *ss);
    if (!ss) return -ENOMEM;
    g->ss = ss;
    uint32_t *fl = realloc(g->freelist, cap * sizeof *fl);
    if (!fl) return -ENOMEM;
    g->freelist = fl;
    uint32_t *h = realloc(g->heap, cap * sizeof *h);
    if (!h) return -ENOMEM;
    g->heap = h;
    g->capss = cap;
  }
  *out = g->nss++;
  return 0;
}

static uint8_t walk(struct gen *g, unsigned persona, unsigned from) {
  const struct row *r = &personas[persona].rows[from];
  if (!r->n) r = &personas[persona].rows[K_START];
  unsigned sum = 0;
  for (unsigned i = 0; i < r->n; i++) sum += r->e[i].w;
  unsigned u = below(g, sum);
  for (unsigned i = 0; i < r->n; i++) {
    if (u < r->e[i].w) return r->e[i].to;
    u -= r->e[i].w;
  }
  return r->e[r->n - 1].to;
}

static uint32_t draw_len(struct gen *g, const struct persona_info *pi) {
  double l;
  if (unif(g) < pi->len_tail)
    l = pareto(g, pi->len_med * 4, pi->len_alpha);
  else
    l = lognorm(g, pi->len_med, pi->len_sigma);
  if (l > pi->len_cap) l = pi->len_cap;
  return l < 1.5 ? 1 : (uint32_t)(l + 0.5);
}

static double pair_think(unsigned from, unsigned to) {
  if (from == to) {
    switch (to) {
    case K_PRODUCT: return 20;
    case K_SEARCH: return 8;
    case K_LIST: return 6;
    case K_M_FEED: return 5;
    default: break;
    }
  }
  if (from == K_CART_ADD && to == K_CART) return 4;
  if (from == K_M_LOGIN || from == K_M_REFRESH) return 0.8;
  return kinds[to].think;
}

/* Pause between the end of one response and the next request: lognormal
 * around a median that depends on the transition, with a Pareto tail for
 * the distracted, truncated below the idle timeout. */
static double think(struct gen *g, const struct session *s) {
  const struct persona_info *pi = &personas[s->persona];
  double med;
  if (s->persona == P_CRAWLER)
    med = s->crawl;
  else if (pi->think_med > 0)
    med = pi->think_med;
  else
    med = pair_think(s->prev, s->kind);
  if (s->persona == P_API && s->kind == K_API_PATCH) med *= 0.4;
  for (int i = 0; i < 4; i++) {
    double t = unif(g) < pi->think_tail ? pareto(g, med * 3, pi->think_alpha)
                                        : lognorm(g, med, pi->think_sigma);
    if (t < MAX_THINK) return t;
  }
  return MAX_THINK;
}

static void set_ref(struct session *s, const char *p, size_t n) {
  if (n > sizeof s->ref) n = sizeof s->ref;
  memcpy(s->ref, p, n);
  s->reflen = (uint16_t)n;
}

static int session_start(struct gen *g, unsigned persona, double t) {
  uint32_t ci, si;
  int rc = pick_client(g, persona, t, &ci);
  if (rc < 0) return rc;
  rc = sess_alloc(g, &si);
  if (rc < 0) return rc;
  struct client *c = &g->pools[persona].c[ci];
  struct session *s = &g->ss[si];
  const struct persona_info *pi = &personas[persona];
  memset(s, 0, offsetof(struct session, ref));
  s->t = t;
  s->seq = g->seq++;
  s->client = ci;
  s->persona = (uint8_t)persona;
  s->prev = K_START;
  s->left = draw_len(g, pi);
  s->ref[0] = '-';
  s->reflen = 1;
  c->active = 1;
  switch (persona) {
  case P_BROWSER: {
    const struct weighted *w = landing_refs;
    unsigned sum = 0, u;
    for (size_t i = 0; i < NELEM(landing_refs); i++) sum += w[i].w;
    u = below(g, sum);
    size_t i = 0;
    while (u >= w[i].w) u -= w[i++].w;
    set_ref(s, w[i].s.s, w[i].s.n);
    if ((c->flags & CF_LOGIN) && unif(g) < 0.8) s->flags |= SF_LOGGED;
    s->kind = walk(g, persona, K_START);
    break;
  }
  case P_MOBILE:
    if (!(c->flags & CF_TOKEN))
      s->kind = K_M_LOGIN;
    else if (unif(g) < 0.45)
      s->kind = K_M_REFRESH;
    else
      s->kind = walk(g, persona, K_START);
    if (c->flags & CF_OLDAPP) {
      /* A JWT-shaped bearer token that changes every session. */
      char *p = put(s->tok, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 37);
      p = put_b64(g, p, 40);
      *p++ = '.';
      p = put_b64(g, p, 43);
      *p = 0;
    }
    break;
  case P_API: {
    uint64_t h = mix64(g->seed * 31 + c->id);
    if (c->flags & CF_BASIC) {
      char *p = put(s->user, "partner-", 8);
      p = units_put_u64(p, 100 + c->id);
      *p = 0;
    } else {
      char *p = put_hex(s->tok, h, 16);
      p = put_hex(p, mix64(h), 16);
      *p = 0;
    }
    if ((c->flags & CF_BADKEY) && s->left > 3) s->left = 1 + below(g, 3);
    s->kind = walk(g, persona, K_START);
    break;
  }
  case P_CRAWLER: {
    /* Each crawler keeps its own crawl delay. */
    uint64_t h = mix64(g->seed ^ (0xc3a5c85c97cb3127ULL * (c->id + 1)));
    s->crawl = 0.3 * exp(3.0 * ((double)(h >> 11) * 0x1.0p-53));
    s->page = 1 + (unif(g) < 0.5 ? below(g, 200) : 0);
    s->product = 1000 + below(g, N_PRODUCTS);
    s->kind = walk(g, persona, K_START);
    break;
  }
  default:
    s->page = below(g, NELEM(probes));
    s->kind = walk(g, persona, K_START);
    break;
  }
  g->heap[g->nheap] = si;
  heap_up(g, g->nheap++);
  g->sessions++;
  return 0;
}

/* ---- one request --------------------------------------------------------- */

struct req {
  const char *method;
  char target[TARGET_MAX];
  size_t tlen;
  unsigned status;
  uint64_t bytes;
  double lat;       /* ms */
  uint8_t redirect; /* kind to follow, K_COUNT for none */
};

static int in_incident(const struct gen *g, double t) {
  /* One degraded spell per afternoon: overloaded upstream, 503s and slow
   * responses, for fault-aware models and dashboards to find. */
  int64_t day = (int64_t)(t / DAY);
  uint64_t h = mix64(g->seed ^ (0x5851f42d4c957f2dULL * (uint64_t)(day + 1)));
  double start = (double)day * DAY + 13 * 3600.0 + (double)(h % 18000);
  double len = 480 + (double)(h >> 40) / (double)(1ULL << 24) * 720;
  return t >= start && t < start + len;
}

static char *put_product_path(char *p, uint32_t id) {
  p = put(p, "/products/", 10);
  return units_put_u64(p, id);
}

static const char *word(struct gen *g) {
  return words[zipf_draw(g, &g->words)];
}

static char *put_str(char *p, const char *s) {
  return put(p, s, strlen(s));
}

/* Builds the request of the given kind for session s at time t and decides
 * its status, size and latency. */
static void build(struct gen *g, struct session *s, const struct client *c,
                  unsigned kind, unsigned arg, double t, struct req *r) {
  const struct kind_info *ki = &kinds[kind];
  char *p = r->target;
  unsigned st = 200;
  double size = -1; /* < 0: draw from the endpoint's distribution */
  r->method = ki->method;
  r->redirect = K_COUNT;
  r->lat = lognorm(g, ki->lat_med, ki->lat_sigma);
  int browser = s->persona == P_BROWSER;
  int api_auth_ok = !(c->flags & CF_BADKEY);
  /* Targets are bounded by construction (longest: ~160 bytes). A failure
   * decided below undoes what the request would have changed. */
  uint8_t flags0 = s->flags;
  uint64_t orders0 = g->orders_made;

  switch (kind) {
  case K_HOME: *p++ = '/'; break;
  case K_LIST:
    p = put(p, "/products", 9);
    if (s->persona == P_CRAWLER) {
      if (s->page > 1) {
        p = put(p, "?page=", 6);
        p = units_put_u64(p, s->page);
      }
      s->product = 1000 + (s->page - 1) * 24 % N_PRODUCTS;
      s->page++;
      if (s->page > N_PRODUCTS / 24 + 2) st = 404; /* past the last page */
    } else {
      uint32_t page = 1 + zipf_draw(g, &g->pages);
      if (page > 1 || unif(g) < 0.3) {
        p = put(p, "?page=", 6);
        p = units_put_u64(p, page);
        if (unif(g) < 0.2) {
          p = put(p, "&sort=", 6);
          p = put_str(p, sorts[below(g, NELEM(sorts))]);
        }
      }
    }
    break;
  case K_CATEGORY:
    p = put(p, "/categories/", 12);
    p = put_str(p, categories[zipf_draw(g, &g->cats)]);
    break;
  case K_PRODUCT:
    if (s->flags & SF_QUICK) {
      /* a redirect to the product already chosen */
    } else if (s->persona == P_CRAWLER) {
      /* Crawlers walk the catalogue in order, long tail included, and
       * follow stale links to products that are gone. */
      if (unif(g) < 0.04)
        s->product = 1000 + N_PRODUCTS + below(g, 20000);
      else if (unif(g) < 0.1)
        s->product = pick_product(g, 0);
      else
        s->product = 1000 + (s->product + 1 - 1000) % N_PRODUCTS;
    } else {
      s->product = pick_product(g, 0.015);
    }
    p = put_product_path(p, s->product);
    if (!product_known(s->product)) st = 404;
    break;
  case K_SEARCH:
    p = put(p, "/search?q=", 10);
    p = put_str(p, word(g));
    if (unif(g) < 0.1) {
      *p++ = '+';
      p = put_str(p, word(g));
    }
    if (unif(g) < 0.1) p = put(p, "&page=2", 7);
    break;
  case K_CART: p = put(p, "/cart", 5); break;
  case K_CART_ADD:
    p = put(p, "/cart/items", 11);
    st = 201;
    break;
  case K_CART_DEL:
    p = put(p, "/cart/items/", 12);
    p = units_put_u64(p, s->product ? s->product : pick_product(g, 0));
    st = 204;
    break;
  case K_LOGIN_PAGE:
    p = put(p, "/login", 6);
    if (s->flags & SF_AFTER) p = put(p, "?next=%2Fcheckout", 17);
    break;
  case K_LOGIN:
    p = put(p, "/login", 6);
    if (browser && unif(g) < 0.86) {
      st = 302;
      s->flags |= SF_LOGGED;
      r->redirect = (s->flags & SF_AFTER) ? K_CHECKOUT_PAGE : K_ACCOUNT;
      s->flags &= (uint8_t)~SF_AFTER;
      size = 0;
    } else {
      st = 401; /* the form again, with an error */
      size = lognorm(g, 8400, 0.03);
    }
    break;
  case K_ACCOUNT:
  case K_ORDERS_PAGE:
    p = put_str(p, kind == K_ACCOUNT ? "/account" : "/account/orders");
    if (!(s->flags & SF_LOGGED)) {
      st = 302;
      r->redirect = K_LOGIN_PAGE;
      size = 0;
    }
    break;
  case K_CHECKOUT_PAGE:
    p = put(p, "/checkout", 9);
    if (!(s->flags & SF_LOGGED)) {
      st = 302;
      r->redirect = K_LOGIN_PAGE;
      s->flags |= SF_AFTER;
      size = 0;
    }
    break;
  case K_CHECKOUT: {
    p = put(p, "/checkout", 9);
    double u = unif(g);
    if (u < 0.95) {
      st = 302;
      r->redirect = K_CONFIRM;
      g->orders_made++;
      size = 0;
    } else {
      st = 422; /* payment declined: the form again */
      size = lognorm(g, 19500, 0.1);
    }
    break;
  }
  case K_CONFIRM:
    p = put(p, "/orders/", 8);
    p = units_put_u64(p, ORDER_BASE + g->orders_made);
    p = put(p, "/confirmation", 13);
    break;
  case K_RESET: {
    uint64_t h = rng_next(&g->rng);
    p = put(p, "/reset-password?token=", 22);
    p = put_hex(p, h, 16);
    p = put_hex(p, mix64(h), 16);
    p = put_hex(p, mix64(h + 1), 8);
    p = put(p, "&email=", 7);
    p = put_str(p, mail_names[h % NELEM(mail_names)]);
    p = units_put_u64(p, h >> 54);
    p = put(p, "%40", 3);
    p = put_str(p, mail_domains[(h >> 8) % NELEM(mail_domains)]);
    break;
  }
  case K_ASSET: {
    const struct asset *a = &assets[arg];
    p = put(p, a->path.s, a->path.n);
    size = a->size;
    if (c->nsess) {
      st = 304;
      size = 0;
      r->lat *= 0.2;
    }
    break;
  }
  case K_IMAGE: {
    p = put(p, "/images/products/", 17);
    p = units_put_u64(p, s->product);
    p = put(p, "/main.jpg", 9);
    /* The same file every time: its size is a function of the id. */
    size = 20000 + (double)(mix64(s->product) % 150000);
    if (c->nsess && unif(g) < 0.5) {
      st = 304;
      size = 0;
      r->lat *= 0.2;
    }
    break;
  }
  case K_ROBOTS:
    p = put(p, "/robots.txt", 11);
    if (unif(g) < 0.1) {
      st = 304;
      size = 0;
    }
    break;
  case K_SITEMAP: p = put(p, "/sitemap.xml", 12); break;
  case K_LEGACY:
    p = put(p, "/product.php?id=", 16);
    p = units_put_u64(p, s->product);
    st = 301;
    size = 169;
    r->redirect = K_PRODUCT;
    break;
  case K_PROBE: {
    const struct probe *pr = &probes[s->page++ % NELEM(probes)];
    r->method = pr->method;
    p = put(p, pr->path.s, pr->path.n);
    st = pr->status;
    size = st == 200 ? lognorm(g, 52000, 0.12) : st == 405 ? 157 : 153;
    break;
  }
  case K_API_ORDERS:
    p = put(p, "/api/v1/orders?since=", 21);
    p = put_iso(g, p, t - 3600 - 60 * below(g, 60));
    p = put(p, "&limit=100", 10);
    if (unif(g) < 0.3) {
      p = put(p, "&page=", 6);
      p = units_put_u64(p, 2 + below(g, 5));
    }
    break;
  case K_API_ORDER:
  case K_API_PATCH: {
    uint64_t id = ORDER_BASE + g->orders_made + 50;
    uint32_t back = zipf_draw(g, &g->orders);
    id = id > back ? id - back : id;
    if (unif(g) < 0.01) id += 100000 + below(g, 100000);
    p = put(p, "/api/v1/orders/", 15);
    p = units_put_u64(p, id);
    if (id > ORDER_BASE + g->orders_made + 50)
      st = 404;
    else if (kind == K_API_PATCH && unif(g) < 0.03)
      st = unif(g) < 0.66 ? 409 : 422;
    break;
  }
  case K_API_INVENTORY:
    p = put(p, "/api/v1/products/", 17);
    p = units_put_u64(p, product_id(below(g, N_PRODUCTS)));
    p = put(p, "/inventory", 10);
    st = 204;
    break;
  case K_API_PRODUCTS:
    p = put(p, "/api/v1/products?updated_since=", 31);
    p = put_iso(g, p, t - 86400);
    p = put(p, "&per_page=100&page=", 19);
    p = units_put_u64(p, ++s->page);
    break;
  case K_API_SHIPMENT:
    p = put(p, "/api/v1/shipments", 17);
    st = 201;
    break;
  case K_M_LOGIN:
    p = put(p, "/api/v1/auth/login", 18);
    if (unif(g) < 0.12) st = 401;
    break;
  case K_M_REFRESH:
    p = put(p, "/api/v1/auth/refresh", 20);
    if (unif(g) < 0.1) st = 401;
    break;
  case K_M_FEED:
    p = put(p, "/api/v1/feed?limit=20", 21);
    if (s->prev == K_M_FEED && s->cursor[0]) {
      p = put(p, "&cursor=", 8);
      p = put_str(p, s->cursor);
    } else if (unif(g) < 0.1) {
      st = 304;
      size = 0;
    }
    *put_b64(g, s->cursor, 16) = 0;
    break;
  case K_M_ITEM: {
    uint64_t h =
        mix64(g->seed ^ (zipf_draw(g, &g->items) + 1) * 0x9e3779b97f4a7c15ULL);
    uint64_t h2 = mix64(h);
    p = put(p, "/api/v1/feed/items/", 19);
    p = put_uuid(p, h, h2);
    if (unif(g) < 0.005) st = 404;
    break;
  }
  case K_M_PROFILE:
    p = put(p, "/api/v1/users/", 14);
    p = units_put_u64(p, unif(g) < 0.5 ? user_id(c->id % N_USERS)
                                       : user_id(zipf_draw(g, &g->users)));
    p = put(p, "/profile", 8);
    break;
  case K_M_PRODUCT:
    s->product = pick_product(g, 0.008);
    p = put(p, "/api/v1/products/", 17);
    p = units_put_u64(p, s->product);
    if (!product_known(s->product)) st = 404;
    break;
  case K_M_CART_ADD:
    p = put(p, "/api/v1/cart/items", 18);
    st = 201;
    break;
  case K_M_NOTIF:
    p = put(p, "/api/v1/notifications", 21);
    if (c->flags & CF_OLDAPP) {
      p = put(p, "?access_token=", 14);
      p = put_str(p, s->tok);
    }
    break;
  case K_M_SEARCH:
    p = put(p, "/api/v1/search?q=", 17);
    p = put_str(p, word(g));
    break;
  case K_M_LOGOUT: {
    uint64_t h = rng_next(&g->rng), h2 = rng_next(&g->rng);
    p = put(p, "/api/v1/sessions/", 17);
    p = put_uuid(p, h, h2);
    st = 204;
    break;
  }
  default: *p++ = '/'; break;
  }

  /* Partner calls carry their key in the query (or use basic auth). */
  if (s->persona == P_API) {
    if (s->tok[0]) {
      char sep = memchr(r->target, '?', (size_t)(p - r->target)) ? '&' : '?';
      *p++ = sep;
      p = put(p, "api_key=", 8);
      p = put_str(p, s->tok);
    }
    if (!api_auth_ok) {
      st = 401;
      size = 56;
      r->lat = lognorm(g, 3, 0.4);
    } else if (unif(g) < 0.004) {
      st = 429;
      size = 87;
      r->lat = lognorm(g, 1, 0.4);
    }
  }
  r->tlen = (size_t)(p - r->target);

  /* Rare failures of the application, many more during the incident. */
  if ((ki->flags & KF_DYN) && st < 500) {
    int inc = in_incident(g, t);
    double u = unif(g), p503 = inc ? 0.08 : 0.0006;
    if (inc) r->lat *= 3;
    if (u < p503 + 0.0016) {
      s->flags = flags0;
      g->orders_made = orders0;
    }
    if (u < p503) {
      st = 503;
      size = 197;
      r->lat = lognorm(g, 1.5, 0.5);
      r->redirect = K_COUNT;
    } else if (u < p503 + 0.0015) {
      st = 500;
      size = ki->flags & KF_API ? 77 : lognorm(g, 1200, 0.05);
      r->lat = lognorm(g, 300, 0.8);
      r->redirect = K_COUNT;
    } else if (u < p503 + 0.0016) {
      st = 504;
      size = 167;
      r->lat = 60000 + lognorm(g, 3, 0.5);
      r->redirect = K_COUNT;
    }
  }
  /* A slow tail: lock waits, GC pauses, cold caches. */
  if (st < 500 && (ki->flags & KF_DYN) && unif(g) < 0.003)
    r->lat *= lognorm(g, 15, 0.6);

  /* Static files: the time is mostly the transfer to the client. */
  if ((kind == K_ASSET || kind == K_IMAGE) && size > 0)
    r->lat *= sqrt(size / 20000.0);

  if (size < 0) {
    switch (st) {
    case 200:
    case 201: size = lognorm(g, ki->size_med, ki->size_sigma); break;
    case 404:
      size = browser ? lognorm(g, 5200, 0.02) : (ki->flags & KF_API) ? 64 : 153;
      break;
    case 401: size = ki->flags & KF_API ? 64 : 153; break;
    case 409: size = 95; break;
    case 422: size = 180; break;
    default: size = 0; break;
    }
  }
  r->status = st;
  r->bytes = (uint64_t)(size + 0.5);
}

static void emit(struct gen *g, const struct session *s, const struct client *c,
                 const struct req *r, double t) {
  g->lines++;
  if (!g->f) return;
  if (g->len > OUT_CAP - LINE_MAX_BYTES) out_flush(g);
  int64_t sec = (int64_t)t;
  if (sec != g->ts_sec) format_ts(g, sec);
  char *p = g->buf + g->len;
  p = put(p, c->ip, c->iplen);
  p = put(p, " - ", 3);
  if (s->user[0])
    p = put_str(p, s->user);
  else
    *p++ = '-';
  p = put(p, " [", 2);
  p = put(p, g->ts, 26);
  p = put(p, "] \"", 3);
  p = put_str(p, r->method);
  *p++ = ' ';
  p = put(p, r->target, r->tlen);
  if (c->flags & CF_H2)
    p = put(p, " HTTP/2.0\" ", 11);
  else
    p = put(p, " HTTP/1.1\" ", 11);
  p = units_put_u64(p, r->status);
  *p++ = ' ';
  p = units_put_u64(p, r->bytes);
  if (g->fmt != FMT_CLF) {
    const struct str *ua;
    switch (s->persona) {
    case P_BROWSER: ua = &browser_uas[c->ua]; break;
    case P_MOBILE: ua = &mobile_uas[c->ua]; break;
    case P_API: ua = &api_uas[c->ua]; break;
    case P_CRAWLER: ua = &crawlers[c->ua].ua; break;
    default: ua = &scanner_uas[c->ua]; break;
    }
    p = put(p, " \"", 2);
    p = put(p, s->ref, s->reflen);
    p = put(p, "\" \"", 3);
    p = put(p, ua->s, ua->n);
    *p++ = '"';
  }
  if (g->fmt == FMT_COMBINED_RT) {
    uint64_t ms = (uint64_t)(r->lat + 0.5);
    *p++ = ' ';
    p = units_put_u64(p, ms / 1000);
    *p++ = '.';
    *p++ = (char)('0' + ms / 100 % 10);
    *p++ = (char)('0' + ms / 10 % 10);
    *p++ = (char)('0' + ms % 10);
  }
  *p++ = '\n';
  g->len = (size_t)(p - g->buf);
}

/* Sends the next request of the session at the top of the heap and
 * reschedules it, or ends it. */
static void session_step(struct gen *g) {
  uint32_t si = g->heap[0];
  struct session *s = &g->ss[si];
  struct client *c = &g->pools[s->persona].c[s->client];
  double t = s->t;
  int sub = s->ipend < s->npend;
  unsigned kind = sub ? s->pend[s->ipend] : s->kind, arg = 0;
  struct req r;

  if (kind >= PEND_ASSET) {
    arg = kind - PEND_ASSET;
    kind = K_ASSET;
  }
  build(g, s, c, kind, arg, t, &r);
  emit(g, s, c, &r, t);
  c->last = t;

  if (sub) {
    s->ipend++;
  } else {
    unsigned st = r.status;
    s->left--;
    s->prev = (uint8_t)kind;
    s->flags &= (uint8_t) ~(SF_QUICK | SF_FAIL);
    if (st >= 400) s->flags |= SF_FAIL;
    if (s->persona == P_BROWSER && st == 200) {
      if (kinds[kind].flags & KF_HTML) {
        if (!(s->flags & SF_ASSETS)) {
          /* First page of the visit: the browser fetches what its cache
           * lacks, in parallel, right after the HTML. */
          s->flags |= SF_ASSETS;
          for (unsigned i = 0; i < NELEM(assets); i++)
            if (!c->nsess || unif(g) < 0.35)
              s->pend[s->npend++] = (uint8_t)(PEND_ASSET + i);
        }
        if (kind == K_PRODUCT && s->npend < PEND_MAX)
          s->pend[s->npend++] = K_IMAGE;
      }
    }
    if (r.redirect != K_COUNT) {
      s->kind = r.redirect;
      s->flags |= SF_QUICK;
      if (!s->left) s->left = 1;
    } else if (s->left) {
      unsigned from = kind;
      if (s->persona == P_BROWSER && (s->flags & SF_FAIL)) {
        /* After an error page people go back and look elsewhere. */
        from = kind == K_LOGIN && unif(g) < 0.6 ? K_LOGIN_PAGE : K_SEARCH;
      }
      s->kind = walk(g, s->persona, from);
      if (s->persona == P_BROWSER && s->kind == K_LOGIN &&
          (s->flags & SF_LOGGED))
        s->kind = K_ACCOUNT;
      if (s->persona == P_MOBILE) {
        if (kind == K_M_LOGIN && st == 401) {
          if (++s->auth_fails < 3 && unif(g) < 0.7)
            s->kind = K_M_LOGIN;
          else
            s->left = 0; /* gives up */
        } else if (kind == K_M_REFRESH && st == 401) {
          s->kind = K_M_LOGIN;
        } else if (s->left == 1 && unif(g) < 0.2) {
          s->kind = K_M_LOGOUT;
        }
      }
      if (s->persona == P_API && st == 401) s->kind = (uint8_t)kind;
    }
    if (s->persona == P_MOBILE && st < 300) {
      if (kind == K_M_LOGIN || kind == K_M_REFRESH) c->flags |= CF_TOKEN;
      if (kind == K_M_LOGOUT) {
        c->flags &= (uint8_t)~CF_TOKEN;
        s->left = 0;
      }
    }
    if (s->persona == P_BROWSER && (s->flags & SF_LOGGED)) c->flags |= CF_LOGIN;
    /* Pages become the referer of what follows; posts and XHRs do not. */
    if (s->persona == P_BROWSER && (kinds[kind].flags & KF_HTML) && st == 200) {
      char *q = put(s->ref, HOST_URL, sizeof HOST_URL - 1);
      size_t n = r.tlen;
      if (n > sizeof s->ref - (sizeof HOST_URL - 1))
        n = sizeof s->ref - (sizeof HOST_URL - 1);
      memcpy(q, r.target, n);
      s->reflen = (uint16_t)(sizeof HOST_URL - 1 + n);
    }
  }

  double done = t + r.lat / 1000.0;
  if (s->ipend < s->npend) {
    /* Assets go out over parallel connections a few ms apart. */
    s->t = (sub ? t : done) + lognorm(g, 0.008, 0.8);
  } else if (s->left) {
    s->npend = s->ipend = 0;
    s->t = done + ((s->flags & SF_QUICK) ? lognorm(g, 0.06, 0.5) : think(g, s));
  } else {
    c->active = 0;
    c->nsess++;
    g->freelist[g->nfree++] = si;
    g->heap[0] = g->heap[--g->nheap];
    if (g->nheap) heap_down(g, 0);
    return;
  }
  heap_down(g, 0);
}

/* ---- arrivals ------------------------------------------------------------ */

static double bump(double h, double center, double width) {
  double d = fabs(h - center);
  if (d > 12) d = 24 - d;
  return exp(-d * d / (2 * width * width));
}

static int is_weekend(const struct gen *g, double t) {
  int64_t wd = (g->start_day + (int64_t)(t / DAY) + 4) % 7; /* 0 = Sun */
  return wd == 0 || wd == 6;
}

static double persona_rate(const struct gen *g, unsigned p, double t) {
  double tod = fmod(t, DAY);
  double r = g->rate[p] * g->shape[p][(int)(tod / 60) % 1440];
  return is_weekend(g, t) ? r * personas[p].weekend : r;
}

/* Next session arrival after t by thinning (Lewis and Shedler) of a
 * homogeneous process at the peak rate; *persona gets the kind of user. */
static double next_arrival(struct gen *g, double t, unsigned *persona) {
  for (;;) {
    t += -log(unif_pos(g)) / g->lambda_max;
    double r[P_COUNT], sum = 0;
    for (unsigned p = 0; p < P_COUNT; p++) sum += r[p] = persona_rate(g, p, t);
    double u = unif(g) * g->lambda_max;
    if (u >= sum) continue;
    for (unsigned p = 0; p < P_COUNT; p++) {
      if (u < r[p]) {
        *persona = p;
        return t;
      }
      u -= r[p];
    }
    *persona = P_COUNT - 1;
    return t;
  }
}

/* ---- setup and run ------------------------------------------------------- */

struct opts {
  uint64_t lines, sessions, seed;
  unsigned days;
  int64_t start_day;
  int fmt;
  const char *out;
};

static void gen_free(struct gen *g) {
  zipf_free(&g->products);
  zipf_free(&g->users);
  zipf_free(&g->items);
  zipf_free(&g->orders);
  zipf_free(&g->words);
  zipf_free(&g->cats);
  zipf_free(&g->pages);
  zipf_free(&g->crawler_fam);
  for (unsigned p = 0; p < P_COUNT; p++) {
    zipf_free(&g->uas[p]);
    free(g->pools[p].c);
    free(g->pools[p].cdf);
  }
  free(g->ss);
  free(g->freelist);
  free(g->heap);
  free(g->buf);
}

/* sessions_per_day sets the arrival rate; the pools are sized from it. */
static int gen_init(struct gen *g, const struct opts *o, uint64_t seed,
                    double sessions_per_day, FILE *f) {
  int rc;
  memset(g, 0, sizeof *g);
  rng_seed(&g->rng, seed);
  g->seed = seed;
  g->start_day = o->start_day;
  g->fmt = o->fmt;
  g->f = f;
  g->ts_sec = -1;
  if (f && !(g->buf = malloc(OUT_CAP))) return -ENOMEM;
  if ((rc = zipf_init(&g->products, N_PRODUCTS, 1.0)) < 0 ||
      (rc = zipf_init(&g->users, N_USERS, 0.9)) < 0 ||
      (rc = zipf_init(&g->items, N_ITEMS, 1.1)) < 0 ||
      (rc = zipf_init(&g->orders, N_ORDERS, 0.9)) < 0 ||
      (rc = zipf_init(&g->words, NELEM(words), 1.0)) < 0 ||
      (rc = zipf_init(&g->cats, NELEM(categories), 0.8)) < 0 ||
      (rc = zipf_init(&g->pages, 60, 1.6)) < 0 ||
      (rc = zipf_init(&g->uas[P_BROWSER], NELEM(browser_uas), 1.0)) < 0 ||
      (rc = zipf_init(&g->uas[P_MOBILE], NELEM(mobile_uas), 0.7)) < 0 ||
      (rc = zipf_init(&g->uas[P_API], NELEM(api_uas), 0.8)) < 0 ||
      (rc = zipf_init(&g->uas[P_CRAWLER], 1, 1.0)) < 0 ||
      (rc = zipf_init(&g->uas[P_SCANNER], NELEM(scanner_uas), 0.5)) < 0)
    return rc;
  unsigned fw[NELEM(crawlers)];
  for (size_t i = 0; i < NELEM(crawlers); i++) fw[i] = crawlers[i].w;
  if ((rc = weights_init(&g->crawler_fam, fw, NELEM(crawlers))) < 0) return rc;

  g->lambda_max = 0;
  for (unsigned p = 0; p < P_COUNT; p++) {
    const struct persona_info *pi = &personas[p];
    double sum = 0, max = 0;
    for (int m = 0; m < 1440; m++) {
      double h = (m + 0.5) / 60.0;
      double v = pi->night + pi->am_a * bump(h, pi->am_h, pi->am_w) +
                 pi->pm_a * bump(h, pi->pm_h, pi->pm_w);
      g->shape[p][m] = v;
      sum += v;
    }
    for (int m = 0; m < 1440; m++) {
      g->shape[p][m] *= 1440 / sum; /* mean 1 over a day */
      if (g->shape[p][m] > max) max = g->shape[p][m];
    }
    g->rate[p] = sessions_per_day * pi->share / DAY;
    g->lambda_max += g->rate[p] * max * (pi->weekend > 1 ? pi->weekend : 1);

    double n = sessions_per_day * pi->share / pi->sess_per_client *
               sqrt((double)o->days);
    if ((rc = pool_init(g, p, n < 3 ? 3 : (uint32_t)n)) < 0) return rc;
  }
  return 0;
}

static int gen_run(struct gen *g) {
  unsigned persona;
  double next = next_arrival(g, 0, &persona);
  int arriving = 1;
  for (;;) {
    if (g->max_lines && g->lines >= g->max_lines) break;
    if (g->nheap && (!arriving || g->ss[g->heap[0]].t <= next)) {
      session_step(g);
      if (g->err) return g->err;
    } else if (arriving) {
      int rc = session_start(g, persona, next);
      if (rc < 0) return rc;
      if (g->max_sessions && g->sessions >= g->max_sessions)
        arriving = 0;
      else
        next = next_arrival(g, next, &persona);
    } else {
      break;
    }
  }
  if (g->f) out_flush(g);
  return g->err;
}

/* Mean lines per session, measured on a small run with another seed, so
 * that --lines N fills the requested span. */
static int calibrate(const struct opts *o, double *lines_per_session) {
  struct gen *g = malloc(sizeof *g);
  if (!g) return -ENOMEM;
  const uint64_t n = 20000;
  int rc = gen_init(g, o, mix64(o->seed ^ 0x6a09e667f3bcc909ULL),
                    (double)n / o->days, NULL);
  if (rc == 0) {
    g->max_sessions = n;
    rc = gen_run(g);
  }
  if (rc == 0) *lines_per_session = (double)g->lines / (double)g->sessions;
  gen_free(g);
  free(g);
  return rc;
}

/* ---- command line -------------------------------------------------------- */

static void usage(FILE *f) {
  fputs(
      "usage: mimic-genlog [options]\n"
      "Writes a synthetic access log of an online shop (browsers, mobile app,\n"
      "partner API, crawlers, scanners), sorted by time.\n"
      "\n"
      "  --lines N       stop after N lines (default 20000; 0 = no limit)\n"
      "  --sessions N    stop after N sessions (sets the arrival rate)\n"
      "  --days D        time span in days (default 1)\n"
      "  --start DATE    first day, YYYY-MM-DD, UTC (default 2026-11-02)\n"
      "  --seed S        random seed (default 1); same seed, same output\n"
      "  --format F      combined-rt (default: combined + $request_time),\n"
      "                  combined, or clf\n"
      "  -o FILE         output file (default: standard output)\n"
      "  --help          this text\n",
      f);
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  if (!s || !*s || *s == '-') return -EINVAL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return -EINVAL;
  *out = v;
  return 0;
}

static int parse_date(const char *s, int64_t *day) {
  unsigned y, m, d;
  char tail;
  if (!s || sscanf(s, "%4u-%2u-%2u%c", &y, &m, &d, &tail) != 3 || y < 1970 ||
      m < 1 || m > 12 || d < 1 || d > 31)
    return -EINVAL;
  int64_t z = days_from_civil(y, m, d), yy;
  unsigned mm, dd;
  civil_from_days(z, &yy, &mm, &dd);
  if (mm != m || dd != d) return -EINVAL; /* 2026-02-30 */
  *day = z;
  return 0;
}

static const char *const value_opts[] = {
    "--lines", "--sessions", "--days", "--start",
    "--seed",  "--format",   "-o",     "--output",
};

/* 0 on success, 1 for --help, -EINVAL with a message otherwise. Options
 * take their value as the next argument or after '='. */
static int parse_args(int argc, char **argv, struct opts *o) {
  o->lines = 20000;
  o->sessions = 0;
  o->seed = 1;
  o->days = 1;
  o->fmt = FMT_COMBINED_RT;
  o->out = NULL;
  parse_date("2026-11-02", &o->start_day);
  int lines_set = 0;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i], *v = NULL;
    char name[16];
    size_t nlen = strcspn(arg, "=");
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) return 1;
    if (nlen >= sizeof name) nlen = sizeof name - 1;
    memcpy(name, arg, nlen);
    name[nlen] = 0;
    size_t k = 0;
    while (k < NELEM(value_opts) && strcmp(name, value_opts[k])) k++;
    if (k == NELEM(value_opts)) {
      fprintf(stderr, "mimic-genlog: unknown option %s\n", arg);
      return -EINVAL;
    }
    if (arg[nlen] == '=') {
      v = arg + nlen + 1;
    } else if (i + 1 < argc) {
      v = argv[++i];
    } else {
      fprintf(stderr, "mimic-genlog: %s needs a value\n", name);
      return -EINVAL;
    }
    int rc = 0;
    uint64_t n = 0;
    if (!strcmp(name, "--lines")) {
      rc = parse_u64(v, &o->lines);
      lines_set = 1;
    } else if (!strcmp(name, "--sessions")) {
      rc = parse_u64(v, &o->sessions);
    } else if (!strcmp(name, "--days")) {
      rc = parse_u64(v, &n);
      if (!rc && (n < 1 || n > 3660)) rc = -EINVAL;
      o->days = (unsigned)n;
    } else if (!strcmp(name, "--start")) {
      rc = parse_date(v, &o->start_day);
    } else if (!strcmp(name, "--seed")) {
      rc = parse_u64(v, &o->seed);
    } else if (!strcmp(name, "--format")) {
      if (!strcmp(v, "combined-rt"))
        o->fmt = FMT_COMBINED_RT;
      else if (!strcmp(v, "combined"))
        o->fmt = FMT_COMBINED;
      else if (!strcmp(v, "clf"))
        o->fmt = FMT_CLF;
      else
        rc = -EINVAL;
    } else {
      o->out = v;
    }
    if (rc < 0) {
      fprintf(stderr, "mimic-genlog: bad value for %s: %s\n", name, v);
      return -EINVAL;
    }
  }
  /* --sessions alone means "that many sessions, however many lines". */
  if (o->sessions && !lines_set) o->lines = 0;
  if (!o->lines && !o->sessions) {
    fprintf(stderr, "mimic-genlog: --lines 0 needs --sessions N\n");
    return -EINVAL;
  }
  return 0;
}

int main(int argc, char **argv) {
  struct opts o;
  int rc = parse_args(argc, argv, &o);
  if (rc == 1) {
    usage(stdout);
    return 0;
  }
  if (rc < 0) {
    fputs("Try 'mimic-genlog --help'.\n", stderr);
    return 2;
  }

  double per_day;
  if (o.sessions) {
    per_day = (double)o.sessions / o.days;
  } else {
    double lps = 1;
    if ((rc = calibrate(&o, &lps)) < 0) {
      fprintf(stderr, "mimic-genlog: %s\n", strerror(-rc));
      return 1;
    }
    per_day = (double)o.lines / lps / o.days;
  }

  FILE *f = stdout;
  if (o.out && !(f = fopen(o.out, "wb"))) {
    fprintf(stderr, "mimic-genlog: %s: %s\n", o.out, strerror(errno));
    return 1;
  }
  struct gen *g = malloc(sizeof *g);
  if (!g)
    rc = -ENOMEM;
  else
    rc = gen_init(g, &o, o.seed, per_day, f);
  if (rc == 0) {
    g->max_lines = o.lines;
    g->max_sessions = o.sessions;
    rc = gen_run(g);
  }
  if (g) {
    gen_free(g);
    free(g);
  }
  if (fflush(f) != 0 && rc == 0) rc = errno ? -errno : -EIO;
  if (f != stdout && fclose(f) != 0 && rc == 0) rc = errno ? -errno : -EIO;
  if (rc < 0) {
    fprintf(stderr, "mimic-genlog: %s\n", strerror(-rc));
    return 1;
  }
  return 0;
}
