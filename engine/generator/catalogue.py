"""The operator's world the generator draws from: cities, brands, plans, services, tags.

Plain data only. Shares and prices are plausible for a Chinese provincial operator (Shaanxi);
they are not measured figures. Service ids follow engine.snapshot.contract.SERVICE_IDS.
"""

from __future__ import annotations

import numpy as np

from engine.snapshot.contract import OS_VALUES, SERVICE_IDS

# 陕西 cities with rough shares of the subscriber base (Xi'an dominates).
CITIES = ("西安", "宝鸡", "咸阳", "渭南", "汉中", "榆林", "延安", "安康", "商洛", "铜川")
CITY_SHARES = np.array([0.32, 0.10, 0.11, 0.11, 0.08, 0.09, 0.06, 0.06, 0.04, 0.03])
CITY_CODES = ("XA", "BJ", "XY", "WN", "HZ", "YL", "YA", "AK", "SL", "TC")  # account-manager codes

BRANDS = ("全球通", "动感地带", "神州行")
BRAND_SHARES = np.array([0.16, 0.34, 0.50])

# Plans: (brand index, name, monthly fee in yuan, data allowance MB, services bundled in it).
PLANS = (
    (0, "全球通88元商旅套餐", 88.0, 2048.0, ("mailbox139", "navigation")),
    (0, "全球通128元商旅套餐", 128.0, 5120.0, ("mailbox139", "navigation", "wlan")),
    (0, "全球通188元尊享套餐", 188.0, 10240.0, ("mailbox139", "wlan", "video")),
    (1, "动感地带18元音乐套餐", 18.0, 300.0, ("music_club", "ringtone")),
    (1, "动感地带28元网聊套餐", 28.0, 700.0, ("fetion",)),
    (1, "动感地带38元视频套餐", 38.0, 1536.0, ("video", "animation")),
    (2, "神州行8元畅听卡", 8.0, 30.0, ()),
    (2, "神州行18元家园卡", 18.0, 200.0, ("newspaper",)),
    (2, "神州行38元4G套餐", 38.0, 1024.0, ("newspaper", "reading")),
)
# Share of each plan within its brand (same order as PLANS).
PLAN_SHARES_IN_BRAND = np.array([0.5, 0.35, 0.15, 0.35, 0.4, 0.25, 0.45, 0.35, 0.2])
PLAN_BRAND = np.array([p[0] for p in PLANS])
PLAN_NAMES = tuple(p[1] for p in PLANS)
PLAN_FEE = np.array([p[2] for p in PLANS])
PLAN_ALLOWANCE_MB = np.array([p[3] for p in PLANS])

OS = OS_VALUES  # android, ios, harmony, symbian, windows_phone, feature
SMARTPHONE = np.array([os in ("android", "ios", "harmony") for os in OS])
# Handset OS mix per brand (rows: brand; columns: OS order above).
OS_SHARES_BY_BRAND = np.array([
    [0.42, 0.40, 0.14, 0.01, 0.01, 0.02],  # 全球通: business users, many iPhones
    [0.62, 0.20, 0.14, 0.01, 0.01, 0.02],  # 动感地带: young, smartphones
    [0.48, 0.08, 0.10, 0.06, 0.03, 0.25],  # 神州行: prepaid, many feature phones
])

SERVICES = SERVICE_IDS
SVC = {s: i for i, s in enumerate(SERVICES)}
BILLING = ("monthly", "per_use", "free")
# Billing mix per service (monthly, per_use, free); rows follow SERVICES.
BILLING_SHARES = np.array([
    [0.15, 0.10, 0.75],  # fetion: basic use free, 会员 monthly
    [0.20, 0.05, 0.75],  # mailbox139: 免费版 free, 5/20元版 monthly
    [0.60, 0.40, 0.00],  # reading
    [0.70, 0.30, 0.00],  # mobile_tv
    [0.65, 0.35, 0.00],  # video
    [0.85, 0.15, 0.00],  # ringtone: 彩铃功能费 monthly
    [0.35, 0.65, 0.00],  # game
    [0.50, 0.50, 0.00],  # wlan
    [0.55, 0.45, 0.00],  # animation
    [0.40, 0.60, 0.00],  # navigation
    [1.00, 0.00, 0.00],  # newspaper: monthly only
    [1.00, 0.00, 0.00],  # music_club: monthly only
    [0.45, 0.55, 0.00],  # sms: 短信包 or per message
    [0.30, 0.70, 0.00],  # mms
    [0.70, 0.30, 0.00],  # gprs: 流量套餐 or per MB
])
# Probability that a subscriber orders the service outside a bundle (before OS/brand tilt).
TAKE_RATE = np.array([0.25, 0.20, 0.10, 0.04, 0.08, 0.22, 0.07, 0.06, 0.04, 0.05, 0.10, 0.06, 0.30, 0.08, 0.72])
MONTHLY_FEE = np.array([5.0, 5.0, 5.0, 6.0, 10.0, 5.0, 8.0, 10.0, 5.0, 5.0, 3.0, 6.0, 5.0, 3.0, 20.0])
PER_USE_PRICE = np.array([0.1, 0.1, 0.5, 1.0, 2.0, 2.0, 1.0, 0.5, 1.0, 0.5, 0.0, 0.0, 0.1, 0.3, 0.0])
# Mean uses per month of a steady, engaged user (events counted by the service's activity rule).
STEADY_USES = np.array([22.0, 14.0, 18.0, 9.0, 10.0, 4.0, 14.0, 9.0, 9.0, 7.0, 20.0, 16.0, 40.0, 6.0, 22.0])
# MB per use on the data network (0 for services that do not ride on it).
MB_PER_USE = np.array([0.3, 0.6, 0.4, 35.0, 45.0, 0.0, 6.0, 0.0, 8.0, 3.0, 0.5, 4.0, 0.0, 0.3, 0.0])
DATA_SERVICE = np.array([s not in ("ringtone", "sms") for s in SERVICES])
# Services with a client app (the short-term-silent remedy) — handset changes break these.
CLIENT_APP = np.array([s not in ("newspaper", "sms", "mms", "gprs") for s in SERVICES])

TAGS = ("小说", "体育", "音乐", "游戏", "影视", "新闻", "财经", "动漫", "教育", "旅游", "美食", "科技")
TAG_SHARES = np.array([0.12, 0.11, 0.13, 0.10, 0.14, 0.10, 0.06, 0.06, 0.05, 0.05, 0.04, 0.04])
# Content services and the tags their titles carry.
CONTENT_TAGS = {
    "reading": ("小说", "财经", "教育", "新闻"),
    "mobile_tv": ("体育", "新闻", "影视", "财经"),
    "video": ("影视", "体育", "动漫", "美食"),
    "ringtone": ("音乐",),
    "game": ("游戏", "体育", "动漫"),
    "animation": ("动漫", "游戏"),
    "newspaper": ("新闻", "财经", "体育", "旅游"),
    "music_club": ("音乐", "影视"),
    "navigation": ("旅游", "美食"),
}

# Behaviour classes of a subscription (the latent truth written to truth/response.csv).
BEHAVIOURS = (
    "steady",             # used every month
    "declining",          # use falls month by month
    "long_term_silent",   # monthly, no use for >= 3 complete months
    "short_term_silent",  # >= 3 uses in M1, none in M0, after a handset / OS change
    "monthly_low_use",    # monthly, 1-2 uses in each of M1..M3, none in M0
    "unpaid_low_use",     # free / per-use, low use, pays nothing
    "paid_low_use",       # per-use, low use, small payments
    "dormant",            # free / per-use, never used lately (costs nothing)
    "new",                # ordered less than 90 days ago
    "inactive",           # suspended or cancelled subscription
)
BH = {b: i for i, b in enumerate(BEHAVIOURS)}
