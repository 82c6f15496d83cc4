from trl._configs import make

ORPOConfig, ORPOTrainer = make("ORPOConfig")
