from trl._configs import make

DPOConfig, DPOTrainer = make("DPOConfig")
KTOConfig, KTOTrainer = make("KTOConfig")
SFTConfig, SFTTrainer = make("SFTConfig")
