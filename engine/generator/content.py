"""Hot content 热门内容 per content service: titles, tags and a hot rank (1 = hottest).

The table does not grow with the subscriber count; it is what the hot-content strategies
(`{hot_content}` in messages) pick from by the subscriber's preference tags.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from engine.generator import catalogue as cat

ITEMS_PER_SERVICE = 30
# Words titles are built from, per tag (title = first + second).
WORDS = {
    "小说": (("斗破", "凡人", "盗墓", "星辰", "庆余"), ("苍穹", "修仙传", "笔记", "变", "年")),
    "财经": (("股市", "理财", "财富", "基金", "楼市"), ("早知道", "周刊", "观察", "攻略", "内参")),
    "教育": (("英语", "考研", "少儿", "职场", "国学"), ("每日一练", "名师课", "启蒙", "充电站", "讲堂")),
    "新闻": (("陕西", "三秦", "西安", "今日", "环球"), ("早报", "晚报", "快讯", "头条", "时评")),
    "体育": (("中超", "NBA", "CBA", "欧冠", "全运会"), ("直播", "集锦", "前瞻", "战报", "风云")),
    "影视": (("长安", "大唐", "西游", "都市", "秦岭"), ("十二时辰", "风云", "新传", "往事", "传奇")),
    "动漫": (("熊出没", "海贼", "秦时", "喜羊羊", "斗罗"), ("大电影", "新篇", "明月", "特辑", "大陆")),
    "游戏": (("王者", "开心", "天天", "欢乐", "保卫"), ("消消乐", "酷跑", "斗地主", "萝卜", "荣耀")),
    "音乐": (("华语", "经典", "秦腔", "流行", "民谣"), ("金曲榜", "老歌", "名段", "新歌", "精选")),
    "旅游": (("华山", "兵马俑", "大雁塔", "壶口", "秦岭"), ("攻略", "自驾游", "一日游", "导览", "路线")),
    "美食": (("肉夹馍", "羊肉泡馍", "凉皮", "biangbiang面", "甑糕"), ("地图", "探店", "做法", "排行", "指南")),
}


def content_table(rng: np.random.Generator) -> pa.Table:
    """ITEMS_PER_SERVICE items for every service with content, sorted by content_id."""
    ids, services, titles, tags, ranks = [], [], [], [], []
    for service in sorted(cat.CONTENT_TAGS):
        own = cat.CONTENT_TAGS[service]
        seen: set[str] = set()
        for k in range(ITEMS_PER_SERVICE):
            tag = own[int(rng.integers(0, len(own)))]
            first, second = WORDS[tag]
            title = first[int(rng.integers(0, 5))] + second[int(rng.integers(0, 5))]
            while title in seen:  # titles are unique per service; add an issue number
                title = f"{title}{int(rng.integers(2, 99))}"
            seen.add(title)
            extra = own[int(rng.integers(0, len(own)))]
            ids.append(f"{service}-{k + 1:04d}")
            services.append(service)
            titles.append(f"《{title}》")
            tags.append("|".join(sorted({tag, extra}, key=cat.TAGS.index)))
            ranks.append(k + 1)
    return pa.table({
        "content_id": pa.array(ids), "service": pa.array(services), "title": pa.array(titles),
        "tags": pa.array(tags), "hot_rank": pa.array(ranks, pa.int64()),
    })
