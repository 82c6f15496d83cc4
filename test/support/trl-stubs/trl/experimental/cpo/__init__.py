from trl._configs import make

CPOConfig, CPOTrainer = make("CPOConfig")
