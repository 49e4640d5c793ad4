"""The frozen-feature study: STGCN's heads on cached features of a pretrained, frozen backbone."""
